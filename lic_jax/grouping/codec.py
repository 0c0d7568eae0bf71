"""Real bitstreams of learned coding profiles (lic_jax.grouping.model, Fig. 1).

The source runs the encoder, picks the profile j = argmax of its head and
codes the d symbols round(z / S) with profile j's tables; the receiver
decodes j, then the symbols with the same tables, and classifies z^ =
S * symbols. A file is the .lic format's version 4 (feature streams,
lic_jax.coding.container): the header names the model, its config and
tables hashes and the encoder's split point; the one range-coded stream
holds j in ceil(log2 k) bits (coded uniformly over 2^ceil(log2 k) values,
those from k on refused; none when k = 1), then the symbols, dimension i
with row (j, i) of the tables. The logits of a decoded file equal the
encoder side's bit for bit.

The tables are frozen once from the run's checkpoint (stored in its run
directory, like every model's) over the symbols of the first
lic_jax.split.codec.FIT_IMAGES training images: per dimension i the range
[lo_i, hi_i] the symbols took there (over all profiles) and, per profile j,
the pmf of its entropy model at lo_i..hi_i, the rest of its mass the escape
(Elias-gamma, lic_jax.coding.range_coder: no symbol is ever clipped).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np

from lic_jax.coding import container, memory, range_coder
from lic_jax.coding.container import BitstreamError
from lic_jax.files import config_hash, tables_hash
from lic_jax.grouping.model import GroupedClassifier
from lic_jax.image import as_float_image
from lic_jax.split.codec import (BATCH, HOST_BYTES_PER_SYMBOL, density_rows,
                                          run_with_tables, symbol_range, uniform_row)

# What classifying a file takes beyond the counted bytes (the classifier's
# compilation): measured 0.46 MB for a CIFAR ResNet-8 tail
# (benchmarks/decode_memory.py).
DECODE_FIXED_BYTES = 768 << 10


def _source_fn(model: GroupedClassifier):
  """The jitted source: (variables, images) -> (z, symbols as floats, j)."""
  def source(m, x):
    z = m.encode(x)
    return z, m.symbols(z), m.profile_index(z)

  return jax.jit(lambda v, x: model.apply(v, x, method=source))


def source_outputs(run, variables, images: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """((N, d) float32 latents z, (N, d) int32 symbols, (N,) int32 profiles)
  of images, in batches."""
  outs = [run(variables, jnp.asarray(images[i:i + BATCH])) for i in range(0, len(images), BATCH)]
  z, symbols, profiles = (np.concatenate([np.asarray(o[n]) for o in outs]) for n in range(3))
  return z, symbols.astype(np.int32), profiles.astype(np.int32)


def freeze(model: GroupedClassifier, variables, images: np.ndarray) -> dict[str, np.ndarray]:
  """{'profiles/lookup': (k * d, width) CDF rows, profile j's dimension i
  at row j * d + i; 'profiles/offsets': (d,) lo_i} (module docstring)."""
  _, symbols, _ = source_outputs(_source_fn(model), variables, images)
  lows, highs, grid = symbol_range(symbols, "the latent's", "is its step s far too small?")
  tiled = jnp.asarray(np.tile(grid, (1, model.groups)), jnp.float32)
  pmfs = np.asarray(model.apply(variables, tiled,
                                method=lambda m, v: m.profiles.likelihood(v)), np.float64)
  return {"profiles/lookup": density_rows(pmfs.T, np.tile(highs - lows + 1, model.groups)),
          "profiles/offsets": lows.astype(np.int32)}


class GroupCodec:
  """The source (`encode`) and the receiver (`decode`, `classify`) of one
  trained grouped classifier. Images are the size it trained on (its
  image_size, which fixes d): others are refused, never resized."""

  def __init__(self, name: str, model_config: dict, model: GroupedClassifier, variables,
               lookup: np.ndarray, offsets: np.ndarray):
    self.name, self.model, self.variables, self.offsets = name, model, variables, offsets
    self.groups, self.dim = model.groups, int(offsets.shape[0])
    self.index_bits = math.ceil(math.log2(self.groups))
    width = max(2 + (1 << self.index_bits), lookup.shape[1])
    padded = np.full((lookup.shape[0], width), 1 << range_coder.PRECISION, np.int32)
    padded[:, :lookup.shape[1]] = lookup
    index_row = uniform_row(1 << self.index_bits, width)
    self.lookup = range_coder.Lookup.of(np.concatenate([index_row[None], padded]))
    self.config_hash = config_hash(model_config)
    self.tables_hash = tables_hash({"lookup": self.lookup.rows, "offsets": offsets})
    self._source = _source_fn(model)
    self._classify = jax.jit(lambda v, s: model.apply(
        v, s, method=lambda m, s: m.classify(s * m.quantizer_step())))
    self._classify_memory = memory.ProgramMemory(self._classify, lambda *_: (
        self.variables, memory.abstract((1, self.dim), np.float32)))

  @classmethod
  def from_run(cls, workdir: str, images: np.ndarray | None = None) -> "GroupCodec":
    """The newest checkpoint of a run, with its tables (frozen there on
    first use, from `images` or its config's first training images)."""
    model, variables, config, arrays = run_with_tables(workdir, GroupedClassifier,
                                                       "a grouped classifier", freeze, images)
    return cls(workdir.rstrip("/").split("/")[-1], config.model.to_dict(), model, variables,
               arrays["profiles/lookup"], arrays["profiles/offsets"])

  def __len__(self) -> int:
    """k, the profiles a file may name."""
    return self.groups

  @property
  def image_size(self) -> int:
    return self.model.image_size

  def source(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """((N, d) latents z, (N, d) symbols, (N,) profiles j) of (N, H, W, 3)
    images in [0, 1]: everything the source computes."""
    return source_outputs(self._source, self.variables, images)

  def client(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """((N, d) symbols, (N,) profiles j): what the source sends."""
    return self.source(images)[1:]

  def encode_symbols(self, symbols: np.ndarray, profile: int) -> bytes:
    """The version-4 file of one image's symbols (d,) coded with `profile`."""
    if not 0 <= profile < self.groups or symbols.shape != (self.dim,):
      raise ValueError(f"expected profile 0..{self.groups - 1} and {self.dim} symbols, got "
                       f"{profile} and {symbols.shape}")
    values = np.concatenate([[profile], symbols - self.offsets])
    indexes = np.concatenate([[0], 1 + profile * self.dim + np.arange(self.dim, dtype=np.int32)])
    header = container.FeatureHeader("grouped_classifier", self.config_hash, self.tables_hash,
                                     self.model.split, self.image_size, self.image_size)
    return container.pack_features(header, range_coder.encode(values, indexes, self.lookup))

  def encode(self, image: np.ndarray) -> bytes:
    """The file of one (H, W, 3) image (uint8, or float in [0, 1])."""
    x = as_float_image(image)
    if x.shape[:2] != (self.image_size,) * 2:
      raise ValueError(f"the model takes {self.image_size}x{self.image_size} images (it "
                       f"fixes d); this one is {x.shape[0]}x{x.shape[1]}: crop or resize it "
                       "first")
    symbols, profiles = self.client(x[None])
    return self.encode_symbols(symbols[0], int(profiles[0]))

  def decode(self, data: bytes) -> tuple[int, np.ndarray]:
    """(profile j, symbols (d,) int32) of a file."""
    header, stream = container.unpack_features(data)
    container.check_origin(header, "grouped_classifier", self.config_hash, self.tables_hash)
    if (header.split, header.height, header.width) != (self.model.split, *(self.image_size,) * 2):
      raise BitstreamError(f"declared split point {header.split!r} and size "
                           f"{header.height}x{header.width}: the model's are "
                           f"{self.model.split!r} and {self.image_size}x{self.image_size}")
    memory.check(header.height, header.width,
                 lambda: self.decode_memory(header.height, header.width),
                 header.height * header.width)
    decoder = range_coder.Decoder(stream, self.lookup, "grouped feature stream")
    profile = int(decoder.decode(np.zeros(1, np.int32))[0])
    if not 0 <= profile < self.groups:
      raise BitstreamError(f"profile {profile} decoded: the model has {self.groups}; the "
                           "file is corrupt")
    symbols = decoder.decode(1 + profile * self.dim + np.arange(self.dim, dtype=np.int32))
    decoder.finish()
    return profile, (symbols + self.offsets).astype(np.int32)

  def decode_memory(self, height: int, width: int) -> int:
    """About the bytes classifying a file takes beyond the loaded model
    (lic_jax.coding.memory): the classifier and the d symbols. The model
    takes images of one size (its image_size), which fixes both."""
    del height, width  # refused unless the model's image_size
    return memory.Footprint(programs=self._classify_memory.bytes(),
                            host=HOST_BYTES_PER_SYMBOL * self.dim,
                            fixed=DECODE_FIXED_BYTES).needed()

  def logits(self, symbols: np.ndarray) -> np.ndarray:
    """(N, classes) logits of (N, d) decoded symbols."""
    return np.asarray(self._classify(self.variables, jnp.asarray(symbols, jnp.float32)))

  def classify(self, data: bytes) -> tuple[int, np.ndarray]:
    """(profile j, logits) of a file."""
    profile, symbols = self.decode(data)
    return profile, self.logits(symbols[None])[0]
