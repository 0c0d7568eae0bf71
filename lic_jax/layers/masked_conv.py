"""Masked convolutions: the context models of Minnen et al. 2018 and He et al. 2021.

A k x k kernel is multiplied by a mask of the taps an output position may
see. Raster masks (Minnen 2018): output position (i, j) only sees inputs
that precede it in raster order. Mask type 'A' (the context model) also
hides (i, j) itself; type 'B' lets it through. For k = 5 and type 'A' the
visible taps are the two rows above (columns j-2 .. j+2) and the two
positions to the left on the current row: 12 of the 25.

The checkerboard mask (He et al. 2021, Fig. 4) keeps the taps at an odd
offset, di + dj odd: from a non-anchor position ((i + j) odd, see
lic_jax.coding.latent_codecs.checkerboard_anchors) these are exactly the
anchors, coded in the step before. For k = 5: 12 of the 25 as well.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def raster_mask(kernel_size: int, mask_type: str = "A") -> np.ndarray:
  """(k, k) array of 0/1: 1 where the tap precedes the centre in raster order."""
  if mask_type not in ("A", "B"):
    raise ValueError(f"mask type must be 'A' or 'B', got {mask_type!r}")
  c = kernel_size // 2
  mask = np.zeros((kernel_size, kernel_size), np.float32)
  mask[:c] = 1.0
  mask[c, :c + (mask_type == "B")] = 1.0
  return mask


def checkerboard_mask(kernel_size: int) -> np.ndarray:
  """(k, k) array of 0/1: 1 where the tap's offset from the centre, di + dj,
  is odd."""
  i, j = np.indices((kernel_size, kernel_size))
  return ((i + j - 2 * (kernel_size // 2)) % 2 == 1).astype(np.float32)


def context_mask(kernel_size: int, mask_type: str) -> np.ndarray:
  """The mask of a MaskedConv: 'A' or 'B' (raster) or 'checkerboard'."""
  if mask_type == "checkerboard":
    return checkerboard_mask(kernel_size)
  if mask_type not in ("A", "B"):
    raise ValueError(f"mask type must be 'A', 'B' or 'checkerboard', got {mask_type!r}")
  return raster_mask(kernel_size, mask_type)


def causal_offsets(kernel_size: int, mask_type: str = "A") -> np.ndarray:
  """(taps, 2) offsets (di, dj) of the visible taps, in kernel (raster) order."""
  rows, cols = np.nonzero(raster_mask(kernel_size, mask_type))
  c = kernel_size // 2
  return np.stack([rows - c, cols - c], axis=1)


class MaskedConv(nn.Module):
  """k x k, stride-1, 'same' convolution whose kernel is masked (see above);
  mask_type: 'A', 'B' or 'checkerboard'."""

  features: int
  kernel_size: int = 5
  mask_type: str = "A"
  use_bias: bool = True

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k = self.kernel_size
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (k, k, x.shape[-1], self.features))
    mask = jnp.asarray(context_mask(k, self.mask_type))[:, :, None, None]
    pad = k // 2
    y = jax.lax.conv_general_dilated(
        x, kernel * mask, (1, 1), ((pad, pad), (pad, pad)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"))
    if not self.use_bias:
      return y
    return y + self.param("bias", nn.initializers.zeros_init(), (self.features,))
