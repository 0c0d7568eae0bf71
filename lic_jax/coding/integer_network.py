"""Bit-exact evaluation of a small conv network for decoder-side indexes.

The scale index that selects each latent's CDF is computed from the decoded
hyper-latent by h_s. In floating point that result can differ in the last
bit between machines, thread counts, batch sizes or XLA flags, and a single
different index desynchronizes the range decoder. So h_s is frozen into
fixed point: weights are integers (scaled by 2^weight_shift), activations
integers with FRACTION_BITS fractional bits, and every layer is evaluated in
float64 on integer-valued operands. Every product and partial sum then stays
below 2^53 (checked when freezing), so each is *exact* and the result is the
same whatever the summation order, BLAS, thread count or machine.
"""

import dataclasses
import enum

import jax.numpy as jnp
import numpy as np

from lic_jax.layers.conv import subpixel_kernel

FRACTION_BITS = 10
WEIGHT_BITS = 15
# Activations are clamped to this magnitude (fixed-point units), which bounds
# every accumulator; only a corrupt stream can reach it.
ACTIVATION_LIMIT = float(1 << 24)
_EXACT_LIMIT = float(1 << 53)
# Output rows processed at once by the im2col convolution (bounds memory).
_ROWS_PER_CHUNK = 64
# The leaky ReLU's negative slope as a dyadic fraction (0.01 ~ 655 / 2^16),
# so that the fixed-point result is a floor of an exact product.
LEAKY_SLOPE_NUMERATOR = 655
LEAKY_SLOPE_SHIFT = 16


class Activation(enum.IntEnum):
  NONE = 0
  RELU = 1
  LEAKY_RELU = 2


@dataclasses.dataclass(frozen=True)
class IntegerConv:
  """A stride-1 convolution with integer weights (after sub-pixel rewriting)."""

  kernel: np.ndarray      # (k, k, C_in, C_out), integer-valued float64
  bias: np.ndarray        # (C_out,), integer-valued, scaled by 2^(F + shift)
  weight_shift: int
  pad: tuple[int, int]
  depth_to_space: int     # 1, or the stride of the transposed conv it replaces
  activation: Activation


def quantize_conv(kernel: np.ndarray, bias: np.ndarray, activation: Activation,
                  transpose_stride: int = 0) -> IntegerConv:
  """Freezes a float conv ('half' padding) or transposed conv (stride s)."""
  kernel = np.asarray(kernel, np.float64)
  shift = WEIGHT_BITS - int(np.ceil(np.log2(np.max(np.abs(kernel)) + 1e-30)))
  int_kernel = np.round(kernel * 2.0**shift)
  int_bias = np.round(np.asarray(bias, np.float64) * 2.0 ** (shift + FRACTION_BITS))
  if transpose_stride:
    # Integers below 2^24 survive the float32 rearrangement exactly.
    sub, d_min = subpixel_kernel(jnp.asarray(int_kernel, jnp.float32), transpose_stride)
    int_kernel = np.asarray(sub, np.float64)
    k = int_kernel.shape[0]
    pad = (-d_min, k - 1 + d_min)
    int_bias = np.tile(int_bias, transpose_stride * transpose_stride)
  else:
    k = int_kernel.shape[0]
    pad = (k // 2, k // 2)
  layer = IntegerConv(int_kernel, int_bias, shift, pad, transpose_stride or 1,
                      Activation(activation))
  column_sums = np.sum(np.abs(int_kernel), axis=(0, 1, 2))
  bound = np.max(column_sums) * ACTIVATION_LIMIT + np.max(np.abs(int_bias))
  if bound >= _EXACT_LIMIT:
    raise ValueError(f"layer too wide for exact float64 accumulation ({bound:.3g})")
  return layer


def _conv_exact(x: np.ndarray, layer: IntegerConv) -> np.ndarray:
  """x: (H, W, C_in) integer-valued float64 -> (H, W, C_out) accumulators."""
  k = layer.kernel.shape[0]
  lo, hi = layer.pad
  xp = np.pad(x, ((lo, hi), (lo, hi), (0, 0)))
  h, w = x.shape[:2]
  flat_kernel = layer.kernel.reshape(-1, layer.kernel.shape[-1])
  out = np.empty((h, w, flat_kernel.shape[1]), np.float64)
  for r0 in range(0, h, _ROWS_PER_CHUNK):
    r1 = min(h, r0 + _ROWS_PER_CHUNK)
    patches = np.stack([xp[r0 + i:r1 + i, j:j + w] for i in range(k) for j in range(k)],
                       axis=2)  # (rows, W, k*k, C_in), ordered like the kernel
    out[r0:r1] = patches.reshape(r1 - r0, w, -1) @ flat_kernel
  return out + layer.bias


def finish(layer: IntegerConv, acc: np.ndarray) -> np.ndarray:
  """Accumulators -> the layer's fixed-point output (rescale, activation, clamp)."""
  x = np.floor(acc / 2.0**layer.weight_shift)  # back to FRACTION_BITS: exact
  if layer.activation == Activation.RELU:
    x = np.maximum(x, 0.0)
  elif layer.activation == Activation.LEAKY_RELU:
    x = np.where(x >= 0, x, np.floor(x * LEAKY_SLOPE_NUMERATOR / 2.0**LEAKY_SLOPE_SHIFT))
  return np.clip(x, -ACTIVATION_LIMIT, ACTIVATION_LIMIT)


def dense(layer: IntegerConv, x: np.ndarray) -> np.ndarray:
  """A 1x1 layer on fixed-point rows x (P, C_in) -> (P, C_out)."""
  return finish(layer, x @ layer.kernel.reshape(-1, layer.kernel.shape[-1]) + layer.bias)


def apply(layers: list[IntegerConv], x: np.ndarray) -> np.ndarray:
  """Runs the frozen network on fixed-point x (H, W, C), FRACTION_BITS bits."""
  x = np.clip(np.asarray(x, np.float64), -ACTIVATION_LIMIT, ACTIVATION_LIMIT)
  for layer in layers:
    x = finish(layer, _conv_exact(x, layer))
    if layer.depth_to_space > 1:
      b = layer.depth_to_space
      h, w, c = x.shape
      x = x.reshape(h, w, b, b, c // (b * b)).transpose(0, 2, 1, 3, 4).reshape(
          h * b, w * b, c // (b * b))
  return x


def to_fixed(x: np.ndarray) -> np.ndarray:
  return np.round(np.asarray(x, np.float64) * 2.0**FRACTION_BITS)


def pack(layers: list[IntegerConv], prefix: str) -> dict[str, np.ndarray]:
  """Flat arrays for storage next to the CDF tables."""
  out = {}
  for i, layer in enumerate(layers):
    out[f"{prefix}{i}/kernel"] = layer.kernel
    out[f"{prefix}{i}/bias"] = layer.bias
    out[f"{prefix}{i}/meta"] = np.array(
        [layer.weight_shift, *layer.pad, layer.depth_to_space, int(layer.activation)],
        np.int64)
  return out


def unpack(arrays: dict[str, np.ndarray], prefix: str) -> list[IntegerConv]:
  layers = []
  while f"{prefix}{len(layers)}/meta" in arrays:
    i = len(layers)
    shift, lo, hi, d2s, activation = (int(v) for v in arrays[f"{prefix}{i}/meta"])
    layers.append(IntegerConv(arrays[f"{prefix}{i}/kernel"], arrays[f"{prefix}{i}/bias"],
                              shift, (lo, hi), d2s, Activation(activation)))
  return layers
