"""Strided convolution and its transpose, both 'half padded' as in the papers.

`Conv` downsamples H x W to H/s x W/s with symmetric padding k // 2.
`ConvTranspose` is its adjoint-shaped upsampler (H x W -> sH x sW). It is
defined as `jax.lax.conv_transpose(x, w, (s, s), padding=(lo, hi))` with
lo = k - 1 - k // 2 and hi = s + k - 2 - lo, kernel layout HWIO, no flip, but
*computed* in an exactly equivalent sub-pixel form: output pixel (s*m + r)
only sees the kernel taps of its phase r, so each phase is a stride-1
computation on the input and the phases interleave into the output.
XLA:CPU differentiates `conv_transpose` very slowly (about 70x slower here
for a 5x5, stride 2, 128-channel layer); the sub-pixel forms run at the
speed of ordinary convolutions.

Two exactly equivalent forms are used: `phase_conv_transpose` (one
convolution per phase with exactly its taps: 25 instead of 36 multiply-adds
per pixel for k=5, s=2) for wide outputs, and `scatter_conv_transpose` (one
matrix product of every input pixel with all k*k taps, then each phase sums
its taps' shifted slices) for narrow ones like the 3-channel image layer,
where s*s small convolutions would cost more than the product (2x faster
than a zero-padded sub-pixel convolution there, measured on XLA:CPU).
"""

import functools
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def conv_transpose_padding(kernel_size: int, stride: int) -> tuple[int, int]:
  """Padding of the dilated input that makes conv_transpose map n to s * n."""
  lo = kernel_size - 1 - kernel_size // 2
  hi = stride + kernel_size - 2 - lo
  return lo, hi


@functools.lru_cache(maxsize=None)
def _phase_taps(kernel_size: int, stride: int, lo: int | None = None) -> tuple[np.ndarray, int]:
  """Kernel index t used by output phase r at input offset d, or -1 for none.

  Output position o = s*m + r receives x[m + d] * w[t] with t = s*d + lo - r,
  lo the padding before the dilated input (default: conv_transpose_padding).
  Returns an int array of shape (stride, num_offsets) and the first offset.
  """
  if lo is None:
    lo, _ = conv_transpose_padding(kernel_size, stride)
  d_min = -((lo) // stride)  # smallest d with t >= 0 for some phase.
  d_max = (kernel_size - 1 + stride - 1 - lo) // stride
  offsets = np.arange(d_min, d_max + 1)
  taps = stride * offsets[None, :] + lo - np.arange(stride)[:, None]
  taps = np.where((taps >= 0) & (taps < kernel_size), taps, -1)
  return taps, int(d_min)


def subpixel_kernel(kernel: jax.Array, stride: int) -> tuple[jax.Array, int]:
  """Rearranges an HWIO transposed-conv kernel into a stride-1 conv kernel.

  Returns a kernel of shape (D, D, C_in, s*s*C_out), output channels ordered
  (phase_row, phase_col, c_out), and the first input offset (negative: the
  left padding of the stride-1 convolution is -d_min).
  """
  k, _, c_in, c_out = kernel.shape
  taps, d_min = _phase_taps(k, stride)
  # Index k selects an appended zero tap for the out-of-range entries.
  padded = jnp.concatenate([kernel, jnp.zeros((1, k, c_in, c_out), kernel.dtype)], 0)
  padded = jnp.concatenate([padded, jnp.zeros((k + 1, 1, c_in, c_out), kernel.dtype)], 1)
  taps = np.where(taps < 0, k, taps)
  # taps: (s, D) -> phase kernels (s_r, D_r, s_c, D_c, C_in, C_out).
  phases = padded[taps[:, :, None, None], taps[None, None, :, :]]
  phases = jnp.transpose(phases, (1, 3, 4, 0, 2, 5))  # (D, D, C_in, s, s, C_out)
  num_offsets = taps.shape[1]
  return phases.reshape(num_offsets, num_offsets, c_in, stride * stride * c_out), d_min


def depth_to_space(x: jax.Array, block: int) -> jax.Array:
  """(B, H, W, b*b*C) with channels ordered (row, col, c) -> (B, bH, bW, C)."""
  b, h, w, c = x.shape
  c_out = c // (block * block)
  x = x.reshape(b, h, w, block, block, c_out)
  x = jnp.transpose(x, (0, 1, 3, 2, 4, 5))
  return x.reshape(b, h * block, w * block, c_out)


def scatter_conv_transpose(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
  """Equals lax.conv_transpose(x, kernel, (s, s), conv_transpose_padding)."""
  k, _, c_in, c_out = kernel.shape
  taps, d_min = _phase_taps(k, stride)
  b, h, w, _ = x.shape
  # products[b, m, n, t_h, t_w] = x[b, m, n] . kernel[t_h, t_w]
  products = jnp.einsum("bhwi,ito->bhwto", x,
                        kernel.transpose(2, 0, 1, 3).reshape(c_in, k * k, c_out))
  products = products.reshape(b, h, w, k, k, c_out)
  # Output phase r at m sums products[m + d] over offsets d = index + d_min.
  num_offsets = taps.shape[1]
  edge = (-d_min, num_offsets - 1 + d_min)
  products = jnp.pad(products, ((0, 0), edge, edge, (0, 0), (0, 0), (0, 0)))
  rows = []
  for r_h in range(stride):
    cols = []
    for r_w in range(stride):
      cols.append(sum(products[:, a:a + h, c:c + w, taps[r_h, a], taps[r_w, c]]
                      for a in range(num_offsets) for c in range(num_offsets)
                      if taps[r_h, a] >= 0 and taps[r_w, c] >= 0))
    rows.append(jnp.stack(cols, axis=3))       # (B, H, W, s_w, C)
  y = jnp.stack(rows, axis=2)                  # (B, H, s_h, W, s_w, C)
  return y.reshape(b, h * stride, w * stride, c_out)


def phase_conv_transpose(x: jax.Array, kernel: jax.Array, stride: int,
                         padding: tuple[int, int] | None = None,
                         groups: int = 1) -> jax.Array:
  """Equals lax.conv_transpose(x, kernel, (s, s), (padding, padding)); padding
  (lo, hi) of the dilated input defaults to conv_transpose_padding (n -> s*n).
  Any other padding gives (n - 1) * s + lo + hi - k + 2 outputs per side
  (PyTorch's ConvTranspose2d of padding p: lo = hi = k - 1 - p).

  groups > 1: a grouped transposed convolution (kernel (k, k, C_in / groups,
  C_out), as lax.conv's feature_group_count), e.g. depthwise with groups =
  C_in; each phase is then a grouped stride-1 convolution."""
  k = kernel.shape[0]
  lo, hi = padding or conv_transpose_padding(k, stride)
  taps, d_min = _phase_taps(k, stride, lo)
  if np.any(np.all(taps < 0, axis=1)):
    raise ValueError(f"a {k}x{k} kernel leaves phases of stride {stride} empty")
  sizes = [(n - 1) * stride + lo + hi - k + 2 for n in x.shape[1:3]]
  # Each phase computes ceil(size / s) outputs; the interleaved rows and
  # columns past `sizes` are cut off at the end.
  phase_sizes = [-(-size // stride) for size in sizes]
  rows = []
  for r_h in range(stride):
    cols = []
    for r_w in range(stride):
      valid_h, valid_w = np.nonzero(taps[r_h] >= 0)[0], np.nonzero(taps[r_w] >= 0)[0]
      phase_kernel = kernel[taps[r_h][valid_h]][:, taps[r_w][valid_w]]
      # Input offsets d = index + d_min; pad (a cut where negative) so that
      # output m reads x[m + d].
      pad = tuple((-(valid[0] + d_min), m - n + valid[-1] + d_min)
                  for valid, m, n in zip((valid_h, valid_w), phase_sizes, x.shape[1:3]))
      cols.append(jax.lax.conv_general_dilated(
          x, phase_kernel, (1, 1), pad, dimension_numbers=("NHWC", "HWIO", "NHWC"),
          feature_group_count=groups))
    rows.append(jnp.stack(cols, axis=3))       # (B, H, W, s_w, C)
  y = jnp.stack(rows, axis=2)                  # (B, H, s_h, W, s_w, C)
  b, h, _, w, _, c = y.shape
  return y.reshape(b, h * stride, w * stride, c)[:, :sizes[0], :sizes[1]]


# ConvTranspose computes layers with at least this many output channels one
# phase at a time (measured on XLA:CPU, see the module docstring).
PHASE_SPLIT_MIN_FEATURES = 16


class Conv(nn.Module):
  """k x k convolution with stride s and symmetric padding k // 2."""

  features: int
  kernel_size: int = 5
  stride: int = 2

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    pad = self.kernel_size // 2
    return nn.Conv(
        self.features, (self.kernel_size, self.kernel_size),
        strides=(self.stride, self.stride), padding=((pad, pad), (pad, pad)),
        name="conv")(x)


class ConvTranspose(nn.Module):
  """k x k transposed convolution, H x W -> sH x sW, in an equivalent fast form."""

  features: int
  kernel_size: int = 5
  stride: int = 2
  kernel_init: Callable = nn.initializers.lecun_normal()
  # (lo, hi) padding of the dilated input, for output sizes other than s*n
  # (see phase_conv_transpose); None: 'half padded', n -> s*n.
  padding: tuple[int, int] | None = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k = self.kernel_size
    kernel = self.param("kernel", self.kernel_init,
                        (k, k, x.shape[-1], self.features))
    bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
    if self.features >= PHASE_SPLIT_MIN_FEATURES or self.padding is not None:
      return phase_conv_transpose(x, kernel, self.stride, self.padding) + bias
    return scatter_conv_transpose(x, kernel, self.stride) + bias
