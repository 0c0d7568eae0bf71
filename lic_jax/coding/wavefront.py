"""The coding order of the autoregressive context model: a wavefront.

With a k x k raster mask (c = k // 2), the parameters of latent (i, j) depend
on the coded values at (i - r, j + d) for r = 1..c, |d| <= c, and at (i, j - d)
for d = 1..c. With a = c + 1 every one of those has a smaller key a*i + j, so
all positions of one key t = a*i + j are independent of each other and can be
computed and coded together once every smaller key is done. For k = 5 (a = 3)
and a 48 x 32 latent (a 768 x 512 image) that is 141 steps instead of 1,536.

Both the encoder and the decoder visit the positions in this order: step t
holds the positions with a*i + j = t in increasing i, and within a step the
symbols follow the positions, then the channels. This is the order of the
symbols in the y stream (see the file format in README.md).
"""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Wavefront:
  """Steps over an H x W grid: steps[t] = (rows, cols) of key a*i + j = t."""

  height: int
  width: int
  slope: int
  steps: tuple[tuple[np.ndarray, np.ndarray], ...]


def wavefront(height: int, width: int, kernel_size: int = 5) -> Wavefront:
  slope = kernel_size // 2 + 1
  steps = []
  for t in range(slope * (height - 1) + width):
    rows = np.arange(max(0, -(-(t - width + 1) // slope)), min(height - 1, t // slope) + 1)
    cols = t - slope * rows
    steps.append((rows, cols))
  return Wavefront(height, width, slope, tuple(steps))
