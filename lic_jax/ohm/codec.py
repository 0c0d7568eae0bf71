"""Real bitstreams of the rate-adaptive OHM / INT autoencoders
(lic_jax.ohm.model): one range-coded stream per feature map, in map order
(the .lic format's version 3, lic_jax.coding.container), so that a file cut
after any number of maps still decodes, the missing maps masked as the
model masks them (Eq. 4-5). `truncate` makes that cut from an existing
file without re-encoding; it decodes to exactly the image that encoding
with that many maps gives.

The tables, frozen once from the trained parameters like every model's:

- OHM: the symbol of (position, map) is its argmax index 0..S-1, coded with
  the categorical prior P (Eq. 8). P is computed from a ones tensor by a
  3x3 convolution with zero padding, so at a position it depends only on
  which neighbours lie inside the grid: per axis, class 0 (a grid of one),
  1 (first), 2 (inside) or 3 (last). Row (4 class_row + class_col) C_Z + c
  holds map c's quantized CDF at such positions: 16 C_Z rows cover every
  grid size.
- INT: the symbol is the clamped integer, coded with the factorized
  bottleneck's pmf of its map over the clamped range: row c for map c.

Everything that decides how a symbol is coded (tables, row indexes) is
integer; the transforms run as jitted Flax calls.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from lic_jax import checkpoint as checkpoint_lib
from lic_jax.coding import container, memory, range_coder, tables
from lic_jax.coding.container import BitstreamError
from lic_jax.files import config_hash, tables_hash
from lic_jax.image import as_float_image, pad_to_multiple
from lic_jax.models import model_from_spec
from lic_jax.ohm.model import PRIOR_KERNEL, OHMAutoencoder

# Per axis: a grid of one, the first, an inner and the last position.
POSITION_CLASSES = 4
# The largest image decoded unless told otherwise (max_pixels): 8 MP. The
# synthesis runs in one piece, and XLA:CPU aborts it (std::bad_alloc, with
# 20 GB free) at 2^24 pixels, measured at the CPU widths and at 8 filters;
# at 2^23 it decodes (2.2 GB at the CPU widths). Within the limit the
# decode's memory is checked against the machine's (decode_memory).
DEFAULT_MAX_PIXELS = 1 << 23
# Host bytes a decode holds per symbol (lic_jax.coding.memory): the symbols
# and their table indexes (int32, built through int64), one map's range
# decoding at a time, the symbols' copy for XLA.
HOST_BYTES_PER_SYMBOL = 24
# What a decode takes that does not grow with the image (compilation, the
# runtime's arenas): measured up to 10 MB beyond the counted bytes at
# 512 x 512 (benchmarks/decode_memory.py).
DECODE_FIXED_BYTES = 24 << 20
MNIST_SIZE = 28
MNIST_GRID = 3  # its latent grid: 28 -> 10 -> 5 -> 3


def axis_classes(n: int) -> np.ndarray:
  """The position class of each of n positions along an axis (see above)."""
  if n == 1:
    return np.zeros(1, np.int32)
  return np.array([1] + [2] * (n - 2) + [3], np.int32)


def _prior_pmfs(model: OHMAutoencoder, params) -> np.ndarray:
  """(16, C_Z, S) float64: P of every position class, from grids of 1 and 3
  positions per axis (each class occurs in one of them)."""
  assert PRIOR_KERNEL == 3, "position classes assume the prior's 3x3 convolution"
  pmfs = np.zeros((POSITION_CLASSES**2, model.num_maps, model.num_symbols))
  for rows in (1, 3):
    for cols in (1, 3):
      log2_p = model.apply({"params": params}, rows, cols,
                           method=lambda m, h, w: m.prior(h, w))
      p = np.exp2(np.asarray(log2_p, np.float64))
      for i, class_row in enumerate(axis_classes(rows)):
        for j, class_col in enumerate(axis_classes(cols)):
          pmfs[POSITION_CLASSES * class_row + class_col] = p[i, j]
  return pmfs


def _bottleneck_pmfs(model: OHMAutoencoder, params) -> np.ndarray:
  """(C_Z, S) float64: each map's bottleneck pmf over the clamped range."""
  low, high = model.symbol_range
  values = jnp.broadcast_to(jnp.arange(low, high + 1, dtype=jnp.float32)[:, None],
                            (high - low + 1, model.num_maps))
  lik = model.apply({"params": params}, values,
                    method=lambda m, v: m.entropy_bottleneck.likelihood(v))
  return np.asarray(lik, np.float64).T


def freeze(model: OHMAutoencoder, params) -> dict[str, np.ndarray]:
  """{'maps/lookup': the CDF rows (see the module docstring)}."""
  pmfs = _prior_pmfs(model, params) if model.quantizer == "ohm" else \
      _bottleneck_pmfs(model, params)
  pmfs = pmfs.reshape(-1, model.num_symbols)
  # The symbols never leave 0..S-1: the escape keeps only the one count
  # every symbol gets, and the rest of the mass is the pmf's.
  rows = [tables.pmf_to_cdf_row(p / p.sum(), 0.0, model.num_symbols + 3) for p in pmfs]
  return {"maps/lookup": np.stack(rows)}


def table_indexes(model: OHMAutoencoder, height: int, width: int) -> np.ndarray:
  """(h, w, C_Z) int32: the table row of every symbol of an h x w grid."""
  maps = np.arange(model.num_maps, dtype=np.int32)
  if model.quantizer == "int":
    return np.broadcast_to(maps, (height, width, model.num_maps)).copy()
  classes = POSITION_CLASSES * axis_classes(height)[:, None] + axis_classes(width)[None, :]
  return (classes[..., None] * model.num_maps + maps).astype(np.int32)


@dataclasses.dataclass
class MapCodec:
  """An OHM / INT autoencoder with its parameters and frozen tables."""

  model_config: dict
  params: dict
  arrays: dict
  max_pixels: int = DEFAULT_MAX_PIXELS

  def __post_init__(self):
    self.model = model_from_spec(self.model_config)
    if not isinstance(self.model, OHMAutoencoder):
      raise ValueError(f"model {self.model_config['name']!r} is not an OHM / INT "
                       "autoencoder (lic_jax.ohm.model)")
    self.lookup = range_coder.Lookup.of(self.arrays["maps/lookup"])
    self.config_hash = config_hash(dict(self.model_config))
    self.tables_hash = tables_hash(self.arrays)
    model = self.model
    self._symbols = jax.jit(lambda p, x: model.apply({"params": p}, x, method=model.symbols))
    self._bits = jax.jit(lambda p, s: model.apply({"params": p}, s, method=model.symbol_bits))
    self._synthesize = jax.jit(
        lambda p, s, kept: model.apply({"params": p}, s, kept, method=model.synthesize))
    self._synthesis_memory = memory.ProgramMemory(self._synthesize, lambda r, c: (
        self.params, memory.abstract((1, r, c, model.num_maps), np.int32),
        memory.abstract((1,), np.int32)))

  @classmethod
  def from_params(cls, model_config: dict, params) -> "MapCodec":
    """Freezes the tables in memory."""
    return cls(dict(model_config), params, freeze(model_from_spec(model_config), params))

  @classmethod
  def from_checkpoint(cls, workdir: str) -> "MapCodec":
    """The newest checkpoint of a run directory, with its stored tables."""
    model, params, config, step = checkpoint_lib.load_trained(workdir)
    if not isinstance(model, OHMAutoencoder):
      raise ValueError(f"{workdir!r} holds a {config.model.name!r} model, not an OHM / INT "
                       "autoencoder")
    arrays = tables.load_or_freeze(workdir, freeze, model, params, step)
    return cls(config.model.to_dict(), params, arrays)

  @property
  def num_maps(self) -> int:
    return self.model.num_maps

  def maps(self, quality: float | None = None, maps: int | None = None) -> int:
    """The maps to send: `maps` itself, or n(quality) (Eq. 5); exactly one."""
    if (quality is None) == (maps is None):
      raise ValueError("give either a quality q in [0, 1] or a number of maps")
    if maps is not None:
      if not 0 <= maps <= self.num_maps:
        raise ValueError(f"maps={maps}: this model has {self.num_maps} maps (0..{self.num_maps})")
      return int(maps)
    if not 0.0 <= quality <= 1.0:
      raise ValueError(f"quality {quality} is not in [0, 1]")
    return int(self.model.kept_maps(quality))

  def _padded(self, image: np.ndarray) -> np.ndarray:
    """The image as a (1, H', W', C) float batch, H' and W' multiples of the
    model's downsampling (edge-padded), after checking it fits the model."""
    x = as_float_image(image, self.model.image_channels)
    if self.model.architecture == "mnist" and x.shape[:2] != (MNIST_SIZE, MNIST_SIZE):
      raise ValueError(f"the MNIST architecture codes {MNIST_SIZE}x{MNIST_SIZE} images, "
                       f"got {x.shape[0]}x{x.shape[1]}")
    return pad_to_multiple(x, self.model.downsampling)[None]

  def symbols(self, image: np.ndarray) -> np.ndarray:
    """(h, w, C_Z) int32: the symbols of every map of an image."""
    return np.asarray(self._symbols(self.params, jnp.asarray(self._padded(image))))[0]

  def map_bits(self, symbols: np.ndarray) -> np.ndarray:
    """(h, w, C_Z) float: -log2 P of each symbol under the entropy model (Eq. 8)."""
    return np.asarray(self._bits(self.params, jnp.asarray(symbols[None])))[0]

  def estimated_bits(self, image: np.ndarray, maps: int) -> float:
    """The entropy model's rate of the first `maps` maps, in bits."""
    return float(np.sum(self.map_bits(self.symbols(image))[..., :maps]))

  def compress(self, image: np.ndarray, quality: float | None = None,
               maps: int | None = None) -> bytes:
    """A version-3 .lic file of the first n maps (n from quality or maps)."""
    sent = self.maps(quality, maps)
    symbols = self.symbols(image)
    low = self.model.symbol_range[0]
    indexes = table_indexes(self.model, *symbols.shape[:2])
    streams = [range_coder.encode(symbols[..., c] - low, indexes[..., c], self.lookup)
               for c in range(sent)]
    height, width, channels = np.shape(image)
    header = container.MapHeader(self.model_config["name"], self.config_hash,
                                 self.tables_hash, height, width, channels,
                                 self.num_maps, sent)
    return container.pack_maps(header, streams)

  def _check(self, header: container.MapHeader) -> tuple[int, int]:
    """The latent grid of a file this codec can decode, else BitstreamError."""
    container.check_origin(header, self.model_config["name"], self.config_hash,
                           self.tables_hash)
    if header.num_maps != self.num_maps or header.channels != self.model.image_channels:
      raise BitstreamError(f"the header declares {header.num_maps} maps of "
                           f"{header.channels}-channel images; this model has "
                           f"{self.num_maps} of {self.model.image_channels}")
    height, width = header.height, header.width
    if self.model.architecture == "mnist" and (height, width) != (MNIST_SIZE, MNIST_SIZE):
      raise BitstreamError(f"declared size {height}x{width}: the MNIST architecture "
                           f"codes {MNIST_SIZE}x{MNIST_SIZE} images")
    memory.check(height, width, lambda: self.decode_memory(height, width), self.max_pixels)
    return self._grid(height, width)

  def _grid(self, height: int, width: int) -> tuple[int, int]:
    """The latent grid of an image of this size."""
    if self.model.architecture == "mnist":
      return MNIST_GRID, MNIST_GRID
    f = self.model.downsampling
    return -(-height // f), -(-width // f)

  def decode_memory(self, height: int, width: int) -> int:
    """About the bytes decoding an image of this size takes beyond the loaded
    model (lic_jax.coding.memory): the synthesis of the whole image, the
    symbols, and the image clipped out of the synthesis's output."""
    rows, cols = self._grid(height, width)
    f = self.model.downsampling
    image = 4 * self.model.image_channels * max(rows * f, height) * max(cols * f, width)
    return memory.Footprint(
        programs=self._synthesis_memory.bytes(rows, cols),
        host=HOST_BYTES_PER_SYMBOL * rows * cols * self.num_maps + 2 * image,
        fixed=DECODE_FIXED_BYTES).needed()

  def decode_symbols(self, data: bytes) -> tuple[np.ndarray, int, container.MapHeader]:
    """(symbols (h, w, C_Z), maps sent, header); unsent maps hold zeros."""
    header, streams = container.unpack_maps(data)
    grid = self._check(header)
    indexes = table_indexes(self.model, *grid)
    symbols = np.zeros(grid + (self.num_maps,), np.int32)
    low = self.model.symbol_range[0]
    for c, stream in enumerate(streams):
      symbols[..., c] = range_coder.decode(stream, indexes[..., c], self.lookup,
                                           f"map {c} stream") + low
    return symbols, header.sent, header

  def decompress(self, data: bytes) -> np.ndarray:
    """The (H, W, C) float32 image in [0, 1] of a version-3 file."""
    symbols, sent, header = self.decode_symbols(data)
    x_hat = self._synthesize(self.params, jnp.asarray(symbols[None]),
                             jnp.array([sent], jnp.int32))
    x_hat = np.asarray(x_hat)[0, :header.height, :header.width]
    return np.clip(x_hat, 0.0, 1.0)

  def truncate(self, data: bytes, quality: float | None = None,
               maps: int | None = None) -> bytes:
    """The file cut to its first n maps (n from quality or maps), checked to
    be this model's first (so that a quality means this model's n(q))."""
    header, _ = container.unpack_maps(data)
    self._check(header)
    sent = self.maps(quality, maps)
    if sent > header.sent:
      raise ValueError(f"the file holds {header.sent} maps; it cannot be truncated to "
                       f"{sent}")
    return container.truncate_maps(data, sent)
