"""Image quality metrics on RGB pixels in [0, 1], reported on the 0..255 scale.

MS-SSIM follows Wang, Simoncelli & Bovik (2003): 11x11 Gaussian window with
sigma 1.5, K1 = 0.01, K2 = 0.03, five scales with weights
(0.0448, 0.2856, 0.3001, 0.2363, 0.1333), 2x2 average pooling between scales,
'valid' filtering, contrast-structure terms at every scale and luminance at
the coarsest. All functions are jit-able and batched over the leading axis.
"""

import jax
import jax.numpy as jnp
import numpy as np

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
# The 11x11 'valid' window must still fit after four 2x downsamplings.
MS_SSIM_MIN_SIZE = 11 * 2 ** (len(MS_SSIM_WEIGHTS) - 1)
_MAX = 255.0


def mse(x: jax.Array, y: jax.Array) -> jax.Array:
  """Per-image mean squared error on the 0..255 scale; x, y in [0, 1]."""
  return jnp.mean(jnp.square((x - y) * _MAX), axis=(1, 2, 3))


def psnr(x: jax.Array, y: jax.Array) -> jax.Array:
  """Per-image PSNR in dB for (B, H, W, C) images in [0, 1]."""
  return 10.0 * jnp.log10(_MAX**2 / mse(x, y))


def psnr_uint8(x: np.ndarray, y: np.ndarray) -> float:
  """PSNR in dB of two uint8 images (any shape), on [0, 255]: what a decoded
  file scores, without going through JAX."""
  mse = np.mean(np.square(x.astype(np.float64) - y.astype(np.float64)))
  return float(10.0 * np.log10(_MAX**2 / mse)) if mse else float("inf")


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
  coords = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
  g = np.exp(-(coords**2) / (2.0 * sigma**2))
  return (g / g.sum()).astype(np.float32)


def _filter_valid(x: jax.Array, window: np.ndarray) -> jax.Array:
  """Separable 'valid' Gaussian filtering of each channel of (B, H, W, C).

  Written as a sum of shifted slices (11 per axis), which XLA fuses into a
  few elementwise loops; a depthwise convolution is ~10x slower on XLA:CPU.
  """
  k = window.shape[0]
  h, w = x.shape[1] - k + 1, x.shape[2] - k + 1
  x = sum(float(window[i]) * x[:, i:i + h] for i in range(k))
  return sum(float(window[j]) * x[:, :, j:j + w] for j in range(k))


def _ssim_terms(x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Mean luminance and contrast-structure terms per image, pixels 0..255."""
  window = _gaussian_window()
  c1 = (0.01 * _MAX) ** 2
  c2 = (0.03 * _MAX) ** 2
  mu_x, mu_y = _filter_valid(x, window), _filter_valid(y, window)
  sigma_xx = _filter_valid(x * x, window) - mu_x**2
  sigma_yy = _filter_valid(y * y, window) - mu_y**2
  sigma_xy = _filter_valid(x * y, window) - mu_x * mu_y
  luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
  cs = (2 * sigma_xy + c2) / (sigma_xx + sigma_yy + c2)
  return jnp.mean(luminance * cs, axis=(1, 2, 3)), jnp.mean(cs, axis=(1, 2, 3))


def _avg_pool2(x: jax.Array) -> jax.Array:
  b, h, w, c = x.shape
  x = x[:, : h - h % 2, : w - w % 2]
  return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def ms_ssim(x: jax.Array, y: jax.Array) -> jax.Array:
  """Per-image MS-SSIM of (B, H, W, C) images in [0, 1]; needs H, W >= 176."""
  if min(x.shape[1], x.shape[2]) < MS_SSIM_MIN_SIZE:
    raise ValueError(f"MS-SSIM needs images of at least {MS_SSIM_MIN_SIZE}x"
                     f"{MS_SSIM_MIN_SIZE} pixels, got {x.shape[1]}x{x.shape[2]}")
  x, y = x * _MAX, y * _MAX
  weights = jnp.asarray(MS_SSIM_WEIGHTS)
  values = []
  for scale in range(len(MS_SSIM_WEIGHTS)):
    ssim, cs = _ssim_terms(x, y)
    if scale < len(MS_SSIM_WEIGHTS) - 1:
      values.append(jax.nn.relu(cs))
      x, y = _avg_pool2(x), _avg_pool2(y)
    else:
      values.append(jax.nn.relu(ssim))
  stacked = jnp.stack(values, axis=-1)
  return jnp.prod(stacked**weights, axis=-1)


def ms_ssim_db(value: jax.Array) -> jax.Array:
  """MS-SSIM expressed in dB, -10 log10(1 - MS-SSIM), as plotted in papers."""
  return -10.0 * jnp.log10(1.0 - value)
