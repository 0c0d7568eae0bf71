"""Real feature bitstreams of split classifiers (lic_jax.split.model).

A *bank* is the K trained bottleneck units a client may pick from (one per
operating point, at any split points of one backbone; Datta et al., Sec.
IV). A file (the .lic format's version 4, lic_jax.coding.container) holds
one image's quantized features: a single range-coded stream whose first
symbol is the unit's index k, coded uniformly over the K units (log2 K
bits: the paper's ceil(log2 K) overhead), followed by the unit's symbols
s = round(y / Q), each channel with its own factorized table. The header
names the backbone, the bank (its config and tables hashes) and the split
point; the server decodes the symbols and runs the unit's decoder and the
backbone's tail, `classify`. The logits of decoded features equal the
logits of the encoder's own symbols bit for bit: the symbols are integers
and both run the same program.

Each unit's tables are frozen once from its checkpoint (stored in its run
directory, like every model's) over the symbols of `FIT_IMAGES` training
images: per channel c the range [lo_c, hi_c] the symbols took there, with

- rate_model 'entropy': the pmf of the unit's entropy bottleneck at the
  integers lo_c..hi_c (the model the unit trained with), the rest of its
  mass the escape;
- rate_model 'l1' (the paper's proxy has no distribution): a histogram fit
  to those symbols, counts + 1/2 (Krichevsky-Trofimov), one more half
  count for the escape.

A symbol outside its table is escaped (Elias-gamma, lic_jax.coding.range_coder):
no value is ever clipped. Everything that decides how a symbol is coded is
integer; the networks run as jitted Flax calls.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from lic_jax import checkpoint as checkpoint_lib
from lic_jax import labelled_data, parts
from lic_jax.coding import container, memory, range_coder, tables
from lic_jax.coding.container import BitstreamError
from lic_jax.files import config_hash, tables_hash
from lic_jax.image import as_float_image
from lic_jax.split.model import SplitClassifier, reduced_size

FIT_IMAGES = 2000
BATCH = 500
PRECISION = range_coder.PRECISION
# Host bytes a decode holds per symbol (lic_jax.coding.memory): its table
# index, the symbol, the offset symbol and its float copy for XLA.
HOST_BYTES_PER_SYMBOL = 16
# What classifying a file takes beyond the counted bytes (the tail's
# compilation): measured 6.6 MB for a CIFAR ResNet-8 (benchmarks/decode_memory.py).
DECODE_FIXED_BYTES = 8 << 20


def fit_images(config, count: int = FIT_IMAGES) -> np.ndarray:
  """The first `count` training images of a unit's config, (N, H, W, C)
  float32 in [0, 1], unaugmented: what its tables are fitted to."""
  c = config.data
  if c.source in labelled_data.LOADERS:
    images, _ = labelled_data.LOADERS[c.source]("train", c.directory or None)
    return images[:count].astype(np.float32) / 255.0
  source = labelled_data.TFDSLabelled(c.tfds_name, f"{c.tfds_split}[:{count}]", BATCH,
                                      c.image_size, training=False,
                                      data_dir=c.tfds_data_dir or None)
  return np.concatenate([batch["image"] for batch in source.iterate()])[:count]


def symbols_fn(model: SplitClassifier):
  """The jitted client half: (variables, images) -> symbols (as floats)."""
  return jax.jit(lambda v, x: model.apply(v, x, method=model.symbols))


def batched_symbols(run, variables, images: np.ndarray) -> np.ndarray:
  """(N, h, w, Cr) int32: the symbols of every image by `run` (symbols_fn), in batches."""
  return np.concatenate([np.asarray(run(variables, jnp.asarray(images[i:i + BATCH])))
                         for i in range(0, len(images), BATCH)]).astype(np.int32)


def _entropy_pmf(model: SplitClassifier, params, values: np.ndarray) -> np.ndarray:
  """(L, Cr) float64: the entropy bottleneck's pmf of each channel at values (L, Cr)."""
  lik = model.apply({"params": params}, jnp.asarray(values, jnp.float32),
                    method=lambda m, v: m.unit.entropy_bottleneck.likelihood(v))
  return np.asarray(lik, np.float64)


def freeze(model: SplitClassifier, variables, images: np.ndarray) -> dict[str, np.ndarray]:
  """{'unit/lookup': (Cr, width) CDF rows, 'unit/offsets': (Cr,) lo_c} of
  a unit, from the symbols of `images` (see the module docstring)."""
  symbols = batched_symbols(symbols_fn(model), variables, images).reshape(-1, model.channels)
  lows, highs, grid = symbol_range(symbols, "the unit's", "is its step Q far too small?")
  width = len(grid)
  if model.rate_model == "entropy":
    rows = density_rows(_entropy_pmf(model, variables["params"], grid).T, highs - lows + 1)
  else:
    rows = []
    for c in range(model.channels):
      counts = np.bincount(symbols[:, c] - lows[c], minlength=int(highs[c] - lows[c]) + 1) + 0.5
      pmf, escape = counts / (counts.sum() + 0.5), 0.5 / (counts.sum() + 0.5)
      rows.append(tables.pmf_to_cdf_row(pmf, escape, width + 3))
    rows = np.stack(rows)
  return {"unit/lookup": rows, "unit/offsets": lows.astype(np.int32)}


def symbol_range(symbols: np.ndarray, whose: str, hint: str
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(lo_c, hi_c, grid) of symbols (N, C): each channel's range, 0 included,
  and the (width, C) integers lo_c, lo_c + 1, ... (repeating hi_c past it)
  at which to evaluate a density. ValueError (with `hint`) for a range
  wider than a table can hold."""
  lows = np.minimum(symbols.min(0), 0)
  highs = np.maximum(symbols.max(0), 0)
  width = int((highs - lows).max()) + 1
  if width > tables.MAX_SYMBOLS:
    raise ValueError(f"{whose} symbols span {width} values on its training images: "
                     f"implausible for a trained model ({hint})")
  return lows, highs, lows[None, :] + np.minimum(np.arange(width)[:, None],
                                                 (highs - lows)[None, :])


def density_rows(pmfs: np.ndarray, lengths: np.ndarray) -> np.ndarray:
  """(C, width + 3) lookup rows of C channels' pmfs (C, width) at their
  integers lo_c..hi_c (lengths[c] of them), the rest of each one's mass the
  escape."""
  width = pmfs.shape[1]
  return np.stack([tables.pmf_to_cdf_row(pmfs[c, :n], max(1.0 - float(pmfs[c, :n].sum()), 0.0),
                                          width + 3) for c, n in enumerate(lengths)])


def run_with_tables(workdir: str, kind: type, what: str, freeze_fn, images=None):
  """(model, variables, config, tables) of a run's newest checkpoint, whose
  model must be a `kind` (else ValueError naming `what` it should hold);
  the tables are frozen there on first use by freeze_fn(model, variables,
  images), from `images` or the config's first training images."""
  model, variables, config, step = checkpoint_lib.load_variables(workdir)
  if not isinstance(model, kind):
    raise ValueError(f"{workdir!r} holds a {config.model.name!r} model, not {what}")
  arrays = tables.load_or_freeze(
      workdir, lambda m, _: freeze_fn(m, variables, fit_images(config) if images is None
                                      else images),
      model, variables["params"], step)
  return model, variables, config, arrays


def uniform_row(count: int, width: int) -> np.ndarray:
  """A lookup row coding 0..count-1 with (nearly) equal probability and no
  escape, padded to `width`: the unit index."""
  if not 1 <= count <= 1 << 12:
    raise ValueError(f"a bank holds 1 to {1 << 12} units, got {count}")
  row = np.full(width, 1 << PRECISION, np.int32)
  row[0] = PRECISION
  row[1:count + 2] = (np.arange(count + 1) * (1 << PRECISION)) // count
  return row


@dataclasses.dataclass
class Unit:
  """One trained unit: its run directory, model (config and module),
  variables, tables and the size of the images it was trained on."""

  name: str
  model_config: dict
  model: SplitClassifier
  variables: dict
  lookup: np.ndarray
  offsets: np.ndarray
  image_size: int

  @classmethod
  def from_run(cls, workdir: str, images: np.ndarray | None = None) -> "Unit":
    """The newest checkpoint of a unit's run, with its tables (frozen there
    on first use, from `images` or its config's first training images)."""
    model, variables, config, arrays = run_with_tables(
        workdir, SplitClassifier, "a split classifier's bottleneck unit", freeze, images)
    return cls(workdir.rstrip("/").split("/")[-1], config.model.to_dict(), model, variables,
               arrays["unit/lookup"], arrays["unit/offsets"], int(config.data.image_size))

  @property
  def split(self) -> str:
    return self.model.split


def _backbone_hash(unit: Unit) -> bytes:
  """The identity of a unit's backbone: every variable of it, by path."""
  return tables_hash({parts.path_name(path): leaf for path, leaf in
                      jax.tree_util.tree_flatten_with_path(
                          {name: c["backbone"] for name, c in unit.variables.items()})[0]})


class FeatureBank:
  """K units of one backbone: the encoder (`encode`) and the receiver
  (`decode`, `classify`) of version-4 files. Images are the size the units
  trained on (image_size x image_size: the classifier's input, e.g. a
  224 x 224 centre crop for ImageNet): others are refused, never resized."""

  def __init__(self, units: list[Unit]):
    if not units:
      raise ValueError("a bank needs at least one unit")
    first = units[0]
    backbone = _backbone_hash(first)
    for unit in units[1:]:
      if dict(unit.model.network) != dict(first.model.network) or _backbone_hash(unit) != backbone:
        raise ValueError(f"units {first.name!r} and {unit.name!r} sit on different backbones")
      if unit.image_size != first.image_size:
        raise ValueError(f"units {first.name!r} and {unit.name!r} take images of different "
                         f"sizes ({first.image_size} and {unit.image_size})")
    self.units = units
    self.image_size = first.image_size
    self.backbone_name = str(first.model.network["name"])
    width = max(1 + len(units), *(u.lookup.shape[1] for u in units))
    rows, self.bases = [uniform_row(len(units), width)], []
    for unit in units:
      self.bases.append(len(rows))
      padded = np.full((unit.lookup.shape[0], width), 1 << PRECISION, np.int32)
      padded[:, :unit.lookup.shape[1]] = unit.lookup
      rows.extend(padded)
    self.lookup = range_coder.Lookup.of(np.stack(rows))
    self.config_hash = config_hash({"units": [u.model_config for u in units],
                                    "backbone": backbone.hex()})
    self.tables_hash = tables_hash({"lookup": self.lookup.rows,
                                    **{f"offsets/{k}": u.offsets for k, u in enumerate(units)}})
    self._symbols = [symbols_fn(u.model) for u in units]
    self._feature_sizes: dict[tuple[int, int, int], tuple[int, int]] = {}
    self._tail = [jax.jit(lambda v, s, h, w, m=u.model: m.apply(v, s, h, w, method=m.tail),
                          static_argnums=(2, 3)) for u in units]
    self._tail_memory = [memory.ProgramMemory(tail, lambda h, w, k=k: (
        self.units[k].variables, memory.abstract((1, *self.symbol_shape(k, h, w)), np.float32),
        *self.feature_size(k, h, w))) for k, tail in enumerate(self._tail)]

  @classmethod
  def from_runs(cls, workdirs: list[str], images: np.ndarray | None = None) -> "FeatureBank":
    return cls([Unit.from_run(w, images) for w in workdirs])

  def __len__(self) -> int:
    return len(self.units)

  def feature_size(self, k: int, height: int, width: int) -> tuple[int, int]:
    """(h, w) of unit k's split point for a height x width image."""
    if (k, height, width) not in self._feature_sizes:
      unit = self.units[k]
      shape = jax.eval_shape(lambda x: unit.model.apply(unit.variables, x,
                                                        method=unit.model.head),
                             jax.ShapeDtypeStruct((1, height, width, 3), jnp.float32)).shape
      self._feature_sizes[k, height, width] = shape[1], shape[2]
    return self._feature_sizes[k, height, width]

  def symbol_shape(self, k: int, height: int, width: int) -> tuple[int, int, int]:
    """(ceil(h/S), ceil(w/S), Cr) of unit k for a height x width image."""
    model = self.units[k].model
    h, w = self.feature_size(k, height, width)
    return reduced_size(h, model.stride), reduced_size(w, model.stride), model.channels

  def _indexes(self, k: int, shape: tuple[int, int, int]) -> np.ndarray:
    return np.broadcast_to(self.bases[k] + np.arange(shape[-1], dtype=np.int32), shape)

  def symbols(self, images: np.ndarray, k: int) -> np.ndarray:
    """(N, h, w, Cr) int32 symbols of unit k of (N, H, W, 3) images in [0, 1]."""
    self._check_unit(k)
    return batched_symbols(self._symbols[k], self.units[k].variables, images)

  def _check_unit(self, k: int) -> None:
    if not 0 <= k < len(self.units):
      raise ValueError(f"unit {k}: this bank holds units 0..{len(self.units) - 1}")

  def encode_symbols(self, symbols: np.ndarray, k: int, height: int, width: int) -> bytes:
    """The version-4 file of one image's symbols (h, w, Cr) of unit k."""
    unit = self.units[k]
    values = np.concatenate([[k], (symbols - unit.offsets).ravel()])
    indexes = np.concatenate([[0], self._indexes(k, symbols.shape).ravel()])
    stream = range_coder.encode(values, indexes, self.lookup)
    header = container.FeatureHeader(self.backbone_name, self.config_hash, self.tables_hash,
                                     unit.split, height, width)
    return container.pack_features(header, stream)

  def encode(self, image: np.ndarray, k: int) -> bytes:
    """The file of one (H, W, 3) image (uint8, or float in [0, 1]) through unit k."""
    x = as_float_image(image)
    if x.shape[:2] != (self.image_size,) * 2:
      raise ValueError(f"the bank's units take {self.image_size}x{self.image_size} images "
                       f"(the classifier's input); this one is {x.shape[0]}x{x.shape[1]}: "
                       "crop or resize it first")
    symbols = self.symbols(x[None], k)[0]
    return self.encode_symbols(symbols, k, *x.shape[:2])

  def decode(self, data: bytes, split: str | None = None
             ) -> tuple[int, np.ndarray, container.FeatureHeader]:
    """(unit k, symbols (h, w, Cr) int32, header) of a file; with `split`, a
    file of another split point is refused (a receiver running that tail)."""
    header, stream = container.unpack_features(data)
    container.check_origin(header, self.backbone_name, self.config_hash, self.tables_hash,
                           "another bank of units", "this bank's",
                           "other checkpoints of its units")
    if split is not None and header.split != split:
      raise BitstreamError(f"a file of split point {header.split!r}; this receiver runs the "
                           f"tail from {split!r}")
    if (header.height, header.width) != (self.image_size,) * 2:
      raise BitstreamError(f"declared size {header.height}x{header.width}: the bank's units "
                           f"take {self.image_size}x{self.image_size} images")
    decoder = range_coder.Decoder(stream, self.lookup, "feature stream")
    k = int(decoder.decode(np.zeros(1, np.int32))[0])
    unit = self.units[k]
    if unit.split != header.split:
      raise BitstreamError(f"the header names split point {header.split!r}, but unit {k} "
                           f"({unit.name}) sits at {unit.split!r}: the file is corrupt")
    memory.check(header.height, header.width,
                 lambda: self.decode_memory(header.height, header.width, k),
                 header.height * header.width)
    shape = self.symbol_shape(k, header.height, header.width)
    symbols = decoder.decode(self._indexes(k, shape)) + unit.offsets
    decoder.finish()
    return k, symbols.astype(np.int32), header

  def decode_memory(self, height: int, width: int, k: int | None = None) -> int:
    """About the bytes classifying a height x width image's file of unit k
    (None: the bank's most costly) takes beyond the loaded bank
    (lic_jax.coding.memory): its decoder and tail, its symbols."""
    units = range(len(self.units)) if k is None else (k,)
    return max(memory.Footprint(
        programs=self._tail_memory[unit].bytes(height, width),
        host=HOST_BYTES_PER_SYMBOL * int(np.prod(self.symbol_shape(unit, height, width))),
        fixed=DECODE_FIXED_BYTES).needed() for unit in units)

  def logits(self, symbols: np.ndarray, k: int, height: int, width: int) -> np.ndarray:
    """(N, classes) logits of unit k's symbols (N, h, w, Cr) of height x width images."""
    h, w = self.feature_size(k, height, width)
    return np.asarray(self._tail[k](self.units[k].variables,
                                    jnp.asarray(symbols, jnp.float32), h, w))

  def classify(self, data: bytes, split: str | None = None) -> tuple[int, np.ndarray]:
    """(unit k, logits) of a file: decoded features through the unit's
    decoder and the backbone's tail."""
    k, symbols, header = self.decode(data, split)
    return k, self.logits(symbols[None], k, header.height, header.width)[0]
