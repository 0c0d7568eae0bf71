"""Rate-distortion objectives: L = R + lambda * D.

R is in bits per pixel; D is the MSE on the 0..255 scale (CompressAI's
convention, so lambdas such as 0.0018 ... 0.0483 carry over) or 1 - MS-SSIM.
"""

import jax
import jax.numpy as jnp

from lic_jax import metrics

DISTORTIONS = ("mse", "ms-ssim")


def rate_distortion_loss(x: jax.Array, output: dict, lmbda: float,
                         distortion: str = "mse") -> tuple[jax.Array, dict]:
  """Returns (loss, metrics) for a batch x (B, H, W, 3) and a model output."""
  num_pixels = x.shape[0] * x.shape[1] * x.shape[2]
  bpp = jnp.sum(output["bits"]) / num_pixels
  x_hat = output["x_hat"]
  mse = jnp.mean(metrics.mse(x, x_hat))
  if distortion == "mse":
    dist = mse
  elif distortion == "ms-ssim":
    dist = 1.0 - jnp.mean(metrics.ms_ssim(x, x_hat))
  else:
    raise ValueError(f"unknown distortion {distortion!r}; choose one of {DISTORTIONS}")
  loss = bpp + lmbda * dist
  return loss, {"loss": loss, "bpp": bpp, "mse": mse,
                "psnr": 10.0 * jnp.log10(255.0**2 / mse)}
