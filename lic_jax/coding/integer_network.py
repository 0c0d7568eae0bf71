"""Bit-exact fixed-point networks for everything that decides how a symbol is coded.

The scale index that selects each latent's CDF (and, for the mean-scale
models, its mean) comes from small networks: h_s of the decoded hyper-latent
and, for mbt2018, the context model and entropy-parameter network run once
per wavefront step. In floating point their results can differ in the last
bit between machines, thread counts, batch sizes or XLA versions, and a
single different index desynchronizes the range decoder. So they are frozen
into fixed point and evaluated *exactly*, in float32 so that they run at the
speed of ordinary XLA matrix products:

  activation  an integer a in units of 2^-FRACTION_BITS (12 bits); a layer
              clamps its inputs to |a| <= ACTIVATION_LIMIT = 2^19 (128.0)
  weights     w[k, c] = round(w_float[k, c] * 2^s[c]) with, per output
              channel c, the largest shift s[c] such that
              sum_k |w[k, c]| <= COLUMN_BUDGET = 2^14 (and the bias fits)
  bias        b[c] = round(b_float[c] * 2^(s[c] + FRACTION_BITS))
  layer       acc = a @ w + b,  out = activation(floor(acc / 2^s[c]))

The product is computed from a = 1024 hi + lo (0 <= lo < 1024, |hi| <= 512):
every partial sum of hi @ w is below 512 * 2^14 = 2^23, every one of lo @ w
below 1023 * 2^14 < 2^24, so both are exact in float32 whatever order XLA
sums them in (integers up to 2^24 are exact floats). acc is kept as the
int32 pair (hi @ w, lo @ w + b) = 1024 high + low and shifted down without
ever forming it (it may exceed 32 bits). The result is therefore the same
integer on every machine and backend; the products ask for full float32
precision (no TF32 or bfloat16 passes on GPU or TPU).

The leaky ReLU's negative slope is the dyadic fraction 655/2^16 (~0.01), so
that it, too, is an exact integer operation.
"""

import dataclasses
import enum
import functools

import jax
import jax.numpy as jnp
import numpy as np

from lic_jax.coding.memory import ProgramMemory, abstract
from lic_jax.layers.conv import depth_to_space, subpixel_kernel

FRACTION_BITS = 12
ACTIVATION_LIMIT = 1 << 19
COLUMN_BUDGET = 1 << 14
_LIMB_BITS = 10
_BIAS_LIMIT = 1 << 29
# s[c] >= _MIN_SHIFT keeps every step of `finish` within int32.
_MIN_SHIFT, _MAX_SHIFT = 3, 30
LEAKY_SLOPE_NUMERATOR = 655
LEAKY_SLOPE_SHIFT = 16
# Products with at most this many rows compute both halves in one product
# (for more, XLA:CPU's one product of twice the rows is slower than two).
_STACKED_ROWS_MAX = 12
# Output rows of a convolution computed per matrix product (bounds memory).
_ROWS_PER_CHUNK = 32
# Input positions per side of the tiles a Network is evaluated on.
TILE = 16


class Activation(enum.IntEnum):
  NONE = 0
  RELU = 1
  LEAKY_RELU = 2


@dataclasses.dataclass(frozen=True)
class IntegerConv:
  """A stride-1 k x k convolution in fixed point (a 1x1 one is a dense layer).

  Transposed convolutions are stored in their sub-pixel form: a stride-1
  convolution with depth_to_space * depth_to_space phases per channel.
  """

  kernel: np.ndarray      # (k, k, C_in, C_out) integer-valued float32
  bias: np.ndarray        # (C_out,) int32, scaled by 2^(shift + FRACTION_BITS)
  shift: np.ndarray       # (C_out,) int32: the s[c] of each output channel
  pad: tuple[int, int]
  depth_to_space: int     # 1, or the stride of the transposed conv it replaces
  activation: Activation

  @property
  def matrix(self) -> np.ndarray:
    """The kernel as a (k * k * C_in, C_out) matrix, rows ordered like patches."""
    return self.kernel.reshape(-1, self.kernel.shape[-1])


def _channel_shifts(kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
  """The largest s[c] whose integer column fits COLUMN_BUDGET and bias _BIAS_LIMIT."""
  flat = kernel.reshape(-1, kernel.shape[-1])
  candidates = np.arange(_MAX_SHIFT, _MIN_SHIFT - 1, -1)
  fits = np.stack([
      (np.abs(np.round(flat * 2.0**s)).sum(0) <= COLUMN_BUDGET)
      & (np.abs(np.round(bias * 2.0**(s + FRACTION_BITS))) < _BIAS_LIMIT)
      for s in candidates])  # (shifts, channels), largest shift first
  unfit = np.flatnonzero(~fits.any(0))
  if unfit.size:
    c = unfit[0]
    raise ValueError(f"output channel {c} does not fit fixed point (weights "
                     f"sum to {np.abs(flat[:, c]).sum():.3g}, bias {bias[c]:.3g})")
  return candidates[np.argmax(fits, axis=0)].astype(np.int32)


def quantize_conv(kernel: np.ndarray, bias: np.ndarray, activation: Activation,
                  transpose_stride: int = 0) -> IntegerConv:
  """Freezes a float conv ('half' padding) or transposed conv (stride s)."""
  kernel = np.asarray(kernel, np.float32)
  bias = np.asarray(bias, np.float64)
  if transpose_stride:
    # The sub-pixel form first (exact: it only moves float32 numbers), so that
    # every phase of a channel, an output column of its own, gets its own shift.
    sub, d_min = subpixel_kernel(jnp.asarray(kernel), transpose_stride)
    kernel = np.asarray(sub)
    pad = (-d_min, kernel.shape[0] - 1 + d_min)
    bias = np.tile(bias, transpose_stride * transpose_stride)
  else:
    pad = (kernel.shape[0] // 2, kernel.shape[0] // 2)
  kernel = kernel.astype(np.float64)
  shift = _channel_shifts(kernel, bias)
  int_kernel = np.round(kernel * 2.0**shift).astype(np.float32)
  int_bias = np.round(bias * 2.0**(shift + FRACTION_BITS)).astype(np.int32)
  return IntegerConv(int_kernel, int_bias, shift, pad, transpose_stride or 1,
                     Activation(activation))


@dataclasses.dataclass(frozen=True)
class Accumulator:
  """The exact integer 2^_LIMB_BITS * high + low, as two int32 arrays."""

  high: jax.Array
  low: jax.Array

  def __add__(self, other: "Accumulator") -> "Accumulator":
    return Accumulator(self.high + other.high, self.low + other.low)


jax.tree_util.register_dataclass(Accumulator, data_fields=["high", "low"], meta_fields=[])


def exact_matmul(a: jax.Array, w: jax.Array, bias: jax.Array | int = 0) -> Accumulator:
  """a @ w + bias for int32 activations a (..., K) and a frozen integer matrix
  w (K, C) within COLUMN_BUDGET, exactly (see the module docstring)."""
  a = jnp.clip(a, -ACTIVATION_LIMIT, ACTIVATION_LIMIT)
  hi = (a >> _LIMB_BITS).astype(jnp.float32)
  lo = (a & ((1 << _LIMB_BITS) - 1)).astype(jnp.float32)
  product = functools.partial(jnp.matmul, precision=jax.lax.Precision.HIGHEST)
  if a.ndim == 2 and a.shape[0] <= _STACKED_ROWS_MAX:
    # Few rows (a wavefront step): the product streams w from memory, so
    # both halves go through one product, reading w once.
    both = product(jnp.concatenate([hi, lo]), w).astype(jnp.int32)
    return Accumulator(both[:a.shape[0]], both[a.shape[0]:] + bias)
  return Accumulator(product(hi, w).astype(jnp.int32),
                     product(lo, w).astype(jnp.int32) + bias)


def finish(acc: Accumulator, shift: jax.Array, activation: Activation) -> jax.Array:
  """Accumulators -> the layer's fixed-point output: floor(acc / 2^s), activation."""
  # acc = 2^L g + r with 0 <= r < 2^L and |g| < 2^23.1, so that g << (L - s)
  # fits int32 for s >= _MIN_SHIFT.
  g = acc.high + (acc.low >> _LIMB_BITS)
  r = acc.low & ((1 << _LIMB_BITS) - 1)
  x = jnp.where(shift >= _LIMB_BITS,
                g >> jnp.maximum(shift - _LIMB_BITS, 0),
                (g << jnp.maximum(_LIMB_BITS - shift, 0)) + (r >> jnp.minimum(shift, _LIMB_BITS)))
  if activation == Activation.RELU:
    x = jnp.maximum(x, 0)
  elif activation == Activation.LEAKY_RELU:
    # floor(x * 655 / 2^16) without overflow: x = 2^16 h + l, 0 <= l < 2^16.
    scaled = ((x >> LEAKY_SLOPE_SHIFT) * LEAKY_SLOPE_NUMERATOR
              + (((x & 0xFFFF) * LEAKY_SLOPE_NUMERATOR) >> LEAKY_SLOPE_SHIFT))
    x = jnp.where(x >= 0, x, scaled)
  return x


@dataclasses.dataclass(frozen=True)
class DeviceLayer:
  """An IntegerConv's arrays as jax arrays, passed to jitted code as arguments
  (as constants XLA would fold them into the program, slowly)."""

  matrix: jax.Array
  bias: jax.Array
  shift: jax.Array


jax.tree_util.register_dataclass(DeviceLayer, data_fields=["matrix", "bias", "shift"],
                                 meta_fields=[])


def to_device(layer: IntegerConv) -> DeviceLayer:
  return DeviceLayer(jnp.asarray(layer.matrix), jnp.asarray(layer.bias),
                     jnp.asarray(layer.shift))


def dense(layer: DeviceLayer, activation: Activation, x: jax.Array) -> jax.Array:
  """A 1x1 layer on fixed-point rows x (P, C_in) -> (P, C_out)."""
  return finish(exact_matmul(x, layer.matrix, layer.bias), layer.shift, activation)


def _conv(x: jax.Array, layer: DeviceLayer, kernel_size: int,
          pad: tuple[int, int]) -> Accumulator:
  """x (H, W, C_in) int32 -> (H, W, C_out) accumulators, as im2col products
  (matrix products, unlike XLA's convolutions, never take inexact shortcuts
  such as Winograd transforms)."""
  h, w = x.shape[:2]
  xp = jnp.pad(x, (pad, pad, (0, 0)))
  chunks = []
  for r0 in range(0, h, _ROWS_PER_CHUNK):
    r1 = min(h, r0 + _ROWS_PER_CHUNK)
    patches = jnp.concatenate([xp[r0 + i:r1 + i, j:j + w] for i in range(kernel_size)
                               for j in range(kernel_size)], axis=-1)
    chunks.append(exact_matmul(patches, layer.matrix, layer.bias))
  return Accumulator(jnp.concatenate([c.high for c in chunks]),
                     jnp.concatenate([c.low for c in chunks]))


@functools.partial(jax.jit, static_argnums=0)
def _apply_tile(structure: tuple[tuple, ...], layers: list[DeviceLayer], x: jax.Array,
                origin: jax.Array, size: jax.Array) -> jax.Array:
  """The network on one tile x (h, w, C_in) of a larger input: the tile's
  first row and column lie at `origin` of an input of `size` (rows, cols),
  zeros outside it. After every layer the positions outside the input are
  zeroed again, as the whole input's zero padding would leave them, so the
  result equals the whole input's wherever the tile's halo covers the
  receptive field. origin and size are traced: one compilation per tile shape."""
  scale = 1
  for (kernel_size, pad, block, activation), layer in zip(structure, layers):
    x = finish(_conv(x, layer, kernel_size, pad), layer.shift, activation)
    if block > 1:
      x = depth_to_space(x[None], block)[0]
    scale *= block
    rows = origin[0] * scale + jnp.arange(x.shape[0])
    cols = origin[1] * scale + jnp.arange(x.shape[1])
    inside = (((rows >= 0) & (rows < size[0] * scale))[:, None]
              & ((cols >= 0) & (cols < size[1] * scale))[None, :])
    x = jnp.where(inside[:, :, None], x, 0)
  return x


def padded_size(n: int) -> int:
  """The smallest 2^k or 3 * 2^k >= n: a few compiled shapes serve every
  size, and less than a third of a padded size is waste. A context model's
  step is padded to it (repeating its last position), a Network's tile side
  (below its largest). With powers of two alone up to half is: a portrait
  Kodak image's wavefront then computes 47% more positions than it codes,
  13% with this series."""
  size = 1 << max(0, (n - 1).bit_length())
  return size * 3 // 4 if size >= 4 and size * 3 // 4 >= n else size


def _tile_side(n: int, tile: int) -> int:
  """Tile side for an input side n: `tile`, or the padded size >= n below
  it, so that a handful of tile shapes serve every image size."""
  return min(tile, padded_size(n))


class Network:
  """A frozen stack of IntegerConv layers, evaluated exactly with XLA.

  The input is cut into tiles of at most TILE x TILE positions with a halo
  as wide as the receptive field, so that compilation depends on the tile
  shape, not on the image size (an unrolled whole-image program grew with
  the height: 77 s for a 32768-pixel-tall image), and memory on the tile.
  Every value is an exact integer, so the tiles join without a seam.
  `tile` is the largest tile side: TILE, or more for a network whose halo
  would otherwise cost more than its tile (a stride-1 stack of 5x5 layers).
  """

  def __init__(self, layers: list[IntegerConv], tile: int = TILE):
    self.layers, self.tile = layers, tile
    # The static part, the key of the jit cache.
    self._structure = tuple((layer.kernel.shape[0], layer.pad, layer.depth_to_space,
                             layer.activation) for layer in layers)
    self._device = [to_device(layer) for layer in layers]
    self.upsampling = int(np.prod([layer.depth_to_space for layer in layers]))
    # The receptive field in input positions: layer l reaches max(pad) of its
    # own input positions, each 1 / (upsampling before l) of an input position.
    reach, scale = 0.0, 1
    for layer in layers:
      reach += max(layer.pad) / scale
      scale *= layer.depth_to_space
    self.halo = int(np.ceil(reach))
    self._memory = ProgramMemory(_apply_tile, lambda rows, cols: (
        self._structure, self._device,
        abstract((rows + 2 * self.halo, cols + 2 * self.halo, layers[0].kernel.shape[2]), np.int32),
        abstract((2,), np.int32), abstract((2,), np.int32)))

  def program_bytes(self, height: int, width: int) -> int:
    """The buffers XLA assigns the tile program an input of height x width
    positions runs (lic_jax.coding.memory): compiled, not run."""
    return self._memory.bytes(_tile_side(height, self.tile), _tile_side(width, self.tile))

  def __call__(self, x: np.ndarray) -> np.ndarray:
    """Fixed-point x (H, W, C_in), FRACTION_BITS bits -> (H', W', C_out) int32."""
    x = np.asarray(x, np.int32)
    h, w, _ = x.shape
    th, tw, m, s = _tile_side(h, self.tile), _tile_side(w, self.tile), self.halo, self.upsampling
    padded = np.zeros((-(-h // th) * th + 2 * m, -(-w // tw) * tw + 2 * m, x.shape[2]),
                      np.int32)
    padded[m:m + h, m:m + w] = x
    size = np.array([h, w], np.int32)
    out = None
    for i in range(0, h, th):
      for j in range(0, w, tw):
        tile = _apply_tile(self._structure, self._device, padded[i:i + th + 2 * m, j:j + tw + 2 * m],
                           np.array([i - m, j - m], np.int32), size)
        core = np.asarray(tile)[m * s:(m + min(th, h - i)) * s, m * s:(m + min(tw, w - j)) * s]
        if out is None:
          out = np.empty((h * s, w * s, core.shape[2]), np.int32)
        out[i * s:i * s + core.shape[0], j * s:j * s + core.shape[1]] = core
    return out


def to_fixed(x: np.ndarray) -> np.ndarray:
  """Real values -> int32 fixed point (round to nearest)."""
  return np.round(np.asarray(x, np.float64) * 2.0**FRACTION_BITS).astype(np.int32)


def from_fixed(x: np.ndarray) -> np.ndarray:
  """Fixed point -> float32; exact for |x| < 2^24."""
  return (np.asarray(x, np.float64) / 2.0**FRACTION_BITS).astype(np.float32)


def pack(layers: list[IntegerConv], prefix: str) -> dict[str, np.ndarray]:
  """Flat arrays for storage next to the CDF tables."""
  out = {}
  for i, layer in enumerate(layers):
    out[f"{prefix}{i}/kernel"] = layer.kernel
    out[f"{prefix}{i}/bias"] = layer.bias
    out[f"{prefix}{i}/shift"] = layer.shift
    out[f"{prefix}{i}/meta"] = np.array(
        [*layer.pad, layer.depth_to_space, int(layer.activation)], np.int64)
  return out


def unpack(arrays: dict[str, np.ndarray], prefix: str) -> list[IntegerConv]:
  layers = []
  while f"{prefix}{len(layers)}/meta" in arrays:
    i = len(layers)
    lo, hi, d2s, activation = (int(v) for v in arrays[f"{prefix}{i}/meta"])
    layers.append(IntegerConv(arrays[f"{prefix}{i}/kernel"], arrays[f"{prefix}{i}/bias"],
                              arrays[f"{prefix}{i}/shift"], (lo, hi), d2s,
                              Activation(activation)))
  return layers
