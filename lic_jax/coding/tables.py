"""Integer CDF tables of the entropy models, built once when a model is frozen.

Like CompressAI's `update()`: the encoder and the decoder must code with the
very same integers, so the tables are computed from trained parameters once,
stored with the model, and loaded by both sides (never recomputed there).

Each table is (lookup, offsets): row r of `lookup` codes the symbol
value - offsets[r] (see lic_jax.coding.range_coder for the row layout).
"""

import os

import numpy as np
from scipy import special

from lic_jax import files
from lic_jax.coding import quantized_cdf
from lic_jax.coding.range_coder import PRECISION
from lic_jax.entropy_models import EntropyBottleneck

# A broken or untrained bottleneck can have absurd quantiles; refuse tables
# wider than this many symbols instead of allocating them.
MAX_SYMBOLS = 1 << 16
# The layout of the frozen tables; stored with them, so that tables of an
# older layout are rebuilt from the parameters rather than misread.
# 2: integer networks exact in float32 (integer_network), FRACTION_BITS 12.
TABLES_FORMAT = 2
# Where a run directory (or an exported model) keeps its frozen tables.
TABLES_FILE = "coding_tables.npz"


def load_or_freeze(workdir: str, freeze, model, params, step: int) -> dict[str, np.ndarray]:
  """DIR/coding_tables.npz if it was frozen from checkpoint `step` in the
  current TABLES_FORMAT; otherwise freeze(model, params), stored there
  (atomically)."""
  return files.stored_arrays(os.path.join(workdir, TABLES_FILE),
                             {"meta/step": step, "meta/format": TABLES_FORMAT},
                             lambda: freeze(model, params))


def pmf_to_cdf_row(pmf: np.ndarray, overflow: float, width: int) -> np.ndarray:
  """One lookup row: [-PRECISION, quantized CDF of (pmf, overflow)], padded.

  The quantization gives every symbol at least one count, so the overflow
  (escape) symbol is always codable.
  """
  full = np.concatenate([pmf, [overflow]]).astype(np.float32)
  cdf = quantized_cdf.pmf_to_quantized_cdf(full, PRECISION)
  if cdf.shape[0] + 1 > width:
    raise ValueError(f"CDF of {cdf.shape[0]} entries does not fit a row of {width}")
  row = np.full(width, 1 << PRECISION, np.int32)
  row[0] = -PRECISION
  row[1:1 + cdf.shape[0]] = cdf
  return row


def factorized_table(channels: int, params, filters=(3, 3, 3)) -> dict[str, np.ndarray]:
  """Per-channel tables of an EntropyBottleneck, centred on its medians.

  Channel c codes q = round(y - median_c) over [-minima_c, maxima_c], where
  the quantiles put the tail mass outside; the tail itself is the escape.
  """
  eb = EntropyBottleneck(channels, filters=filters)
  quantiles = np.asarray(params["quantiles"], np.float64)
  medians = quantiles[:, 1]
  minima = np.ceil(np.maximum(medians - quantiles[:, 0], 0)).astype(np.int64)
  maxima = np.ceil(np.maximum(quantiles[:, 2] - medians, 0)).astype(np.int64)
  lengths = minima + maxima + 1
  if lengths.max() > MAX_SYMBOLS:
    raise ValueError(
        f"entropy bottleneck support of {lengths.max()} symbols is implausible "
        "(are its quantiles trained? the aux loss trains them)")
  width = int(lengths.max())
  samples = medians[:, None] + np.arange(width)[None, :] - minima[:, None]  # (C, L)
  pmf = np.asarray(eb.apply({"params": params}, samples.T.astype(np.float32),
                            method=eb.likelihood), np.float64).T
  lower = eb.apply({"params": params}, (samples[:, :1] - 0.5).astype(np.float32),
                   method=eb.logits_cumulative)
  last = samples[np.arange(channels), lengths - 1][:, None] + 0.5
  upper = eb.apply({"params": params}, last.astype(np.float32),
                   method=eb.logits_cumulative)
  tails = special.expit(np.asarray(lower, np.float64)[:, 0]) + special.expit(
      -np.asarray(upper, np.float64)[:, 0])
  lookup = np.stack([
      pmf_to_cdf_row(pmf[c, :lengths[c]], tails[c], width + 3)
      for c in range(channels)])
  return {"lookup": lookup, "offsets": (-minima).astype(np.int32),
          "medians": medians.astype(np.float32)}


def gaussian_table(scale_table, tail_mass: float) -> dict[str, np.ndarray]:
  """One table per scale of a zero-mean Gaussian convolved with a unit box.

  Scale s codes integers in [-c, c], c = ceil(s * Phi^-1(1 - tail_mass/2)).
  """
  scales = np.asarray(scale_table, np.float64)
  centers = np.ceil(scales * -special.ndtri(tail_mass / 2)).astype(np.int64)
  width = int(2 * centers.max() + 1)
  rows = []
  for scale, center in zip(scales, centers):
    values = np.arange(-center, center + 1, dtype=np.float64)
    pmf = special.ndtr((values + 0.5) / scale) - special.ndtr((values - 0.5) / scale)
    tail = 2 * special.ndtr((-center - 0.5) / scale)
    rows.append(pmf_to_cdf_row(pmf, tail, width + 3))
  return {"lookup": np.stack(rows), "offsets": (-centers).astype(np.int32),
          "scales": scales}
