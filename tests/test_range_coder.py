"""Our range coder and quantized CDFs against tensorflow-compression's: the
same bytes, the same symbols, the same tables, and an error where tfc's
decoder would spin forever. The comparisons need tfc's ops ([tfc]); the
rest runs on every stack."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, requires_tfc
from lic_jax.coding import quantized_cdf, range_coder, tfc_ops
from lic_jax.coding.container import BitstreamError


def random_table(rng: np.random.Generator, rows: int = 6, width: int = 40) -> np.ndarray:
  """Rows of random CDFs, precisions 1..16, most with the overflow escape."""
  table = []
  for _ in range(rows):
    precision = int(rng.integers(1, 17))
    entries = int(rng.integers(2, min(width - 1, (1 << precision) + 1) + 1))
    inner = np.sort(rng.choice(np.arange(1, 1 << precision), entries - 2, replace=False))
    row = np.full(width, 1 << precision, np.int32)
    row[0] = -precision if rng.random() < 0.7 else precision
    row[1:1 + entries] = np.concatenate([[0], inner, [1 << precision]])
    table.append(row)
  return np.stack(table)


def random_symbols(rng, lookup: range_coder.Lookup, n: int):
  """(values, indexes): in range for plain rows; for escaping rows also far
  outside it, both signs, up to 2^27."""
  indexes = rng.integers(0, lookup.rows.shape[0], n).astype(np.int32)
  escape = lookup.lengths[indexes] - 2
  inside = rng.integers(0, 1 << 30, n) % (escape + 1)
  outside = rng.integers(-2, 3, n) * rng.integers(0, 1 << int(rng.integers(1, 28)), n) + inside
  values = np.where(lookup.rows[indexes, 0] > 0, inside, outside)
  return values.astype(np.int32), indexes


@requires_tfc
def test_same_bytes_and_symbols_as_tfc_on_random_tables():
  """300 random tables and symbol batches, the first ones empty
  (benchmarks/range_coder.py: 10,000)."""
  rng = np.random.default_rng(0)
  escapes = 0
  for case in range(300):
    rows = random_table(rng)
    lookup = range_coder.Lookup.of(rows)
    values, indexes = random_symbols(rng, lookup, int(rng.integers(0, 300)) if case > 2 else 0)
    escapes += np.sum((rows[indexes, 0] < 0) & (values >= lookup.lengths[indexes] - 2)
                      | (values < 0))
    data = tfc_ops.encode(values, indexes, rows)
    assert range_coder.encode(values, indexes, lookup) == data, case
    np.testing.assert_array_equal(range_coder.decode(data, indexes, lookup), values)
    theirs, finished = tfc_ops.decode(data, indexes, rows)
    np.testing.assert_array_equal(theirs, values)
    assert finished
  assert escapes > 5000


def test_incremental_decoding_equals_one_call():
  rng = np.random.default_rng(1)
  lookup = range_coder.Lookup.of(random_table(rng, rows=10))
  values, indexes = random_symbols(rng, lookup, 1000)
  decoder = range_coder.Decoder(range_coder.encode(values, indexes, lookup), lookup)
  parts = [decoder.decode(indexes[a:b]) for a, b in [(0, 1), (1, 400), (400, 400), (400, 1000)]]
  decoder.finish()
  np.testing.assert_array_equal(np.concatenate(parts), values)


# One symbol and an escape, the escape's magnitude read bit by bit: the byte
# 0x80 selects the escape, then only zero bits follow.
_ESCAPE_ROW = np.array([[-1, 0, 1, 2]], np.int32)


def test_an_endless_escape_code_is_an_error():
  start = time.perf_counter()
  with pytest.raises(BitstreamError, match="symbol 0 decodes to an escape code longer"):
    range_coder.decode(b"\x80", np.zeros(1, np.int32), range_coder.Lookup.of(_ESCAPE_ROW))
  assert time.perf_counter() - start < 1


@requires_tfc
def test_tfc_spins_forever_on_an_endless_escape_code():
  script = ("import numpy as np; from lic_jax.coding import tfc_ops; "
            f"tfc_ops.decode(b'\\x80', np.zeros(1, np.int32), np.array({_ESCAPE_ROW.tolist()}, "
            "np.int32))")
  with pytest.raises(subprocess.TimeoutExpired):
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, timeout=20,
                   capture_output=True, check=False)


def coded(seed: int, n: int):
  """(lookup, values, indexes, stream) of n random symbols of a random table."""
  rng = np.random.default_rng(seed)
  lookup = range_coder.Lookup.of(random_table(rng))
  values, indexes = random_symbols(rng, lookup, n)
  return lookup, values, indexes, range_coder.encode(values, indexes, lookup)


def test_a_stream_that_does_not_end_with_its_symbols_is_an_error():
  lookup, _, indexes, data = coded(2, 500)
  with pytest.raises(BitstreamError, match=r"corrupt y stream: its \d+ bytes do not end with "
                     "its 500 symbols"):
    range_coder.decode(data + b"\x01\x02\x03", indexes, lookup, "y stream")


@requires_tfc
def test_tfc_flags_a_stream_that_does_not_end_with_its_symbols():
  """tfc's decoder says the same through its finalize flag, which it only logs."""
  lookup, _, indexes, data = coded(2, 500)
  assert not tfc_ops.decode(data + b"\x01\x02\x03", indexes, lookup.rows)[1]


def test_symbols_the_table_cannot_code_are_refused():
  lookup = range_coder.Lookup.of(np.array([[2, 0, 1, 3, 4, 4], [-2, 0, 2, 4, 4, 4]], np.int32))
  with pytest.raises(ValueError, match="symbol 1: a value outside its table without an escape"):
    range_coder.encode(np.array([0, 3]), np.array([0, 0]), lookup)
  with pytest.raises(ValueError, match="symbol 0: a table index outside the lookup"):
    range_coder.encode(np.array([0]), np.array([2]), lookup)
  with pytest.raises(ValueError, match="symbol 0: an escaped value beyond int32"):
    range_coder.encode(np.array([-(1 << 31)], np.int32), np.array([1]), lookup)
  with pytest.raises(BitstreamError, match="symbol 0 decodes to a table index outside"):
    range_coder.decode(b"", np.array([5]), lookup)


@pytest.mark.parametrize("row, problem", [
    ([0, 0, 1], "precision 0 not in 1..16"),
    ([17, 0, 1 << 17], "precision 17 not in 1..16"),
    ([2, 1, 4, 4], "runs from 0 to 2"),
    ([2, 0, 3, 2, 4], "decreases"),
    ([2, 0, 3, 3, 3], "runs from 0 to 2"),
    ([2, 0, 4, 3, 4], "padding"),
])
def test_malformed_tables_are_refused(row, problem):
  with pytest.raises(ValueError, match=f"lookup row 0: .*{problem}"):
    range_coder.Lookup.of(np.array([row], np.int32))


def random_pmf(rng: np.random.Generator, case: int, n: int) -> np.ndarray:
  """float32 pmfs of the kinds the tables hold: peaked, symmetric (equal
  masses, so the quantizer's queue has ties), repeated masses, unnormalized
  and sparse ones."""
  kind = case % 5
  if kind == 0:
    pmf = rng.dirichlet(np.full(n, 0.3))
  elif kind == 1:
    x = np.arange(n) - (n - 1) / 2
    pmf = np.exp(-0.5 * (x / rng.uniform(0.3, n)) ** 2)
    pmf /= pmf.sum()
  elif kind == 2:
    pmf = np.resize(rng.dirichlet(np.ones(max(n // 4, 1))) / 4, n)
  elif kind == 3:
    pmf = rng.dirichlet(np.ones(n)) * rng.uniform(0.5, 1.5)
  else:
    pmf = np.where(rng.random(n) < 0.5, 0.0, rng.random(n))
    pmf[0] += 1e-3
    pmf /= pmf.sum()
  return pmf.astype(np.float32)


@requires_tfc
def test_quantized_cdfs_equal_tfcs():
  """1,000 pmfs, precisions 1..16, 2..600 symbols: the integers of tfc's
  pmf_to_quantized_cdf, ties included."""
  rng = np.random.default_rng(3)
  for case in range(1000):
    precision = int(rng.integers(1, 17))
    pmf = random_pmf(rng, case, int(rng.integers(2, min(1 << precision, 600) + 1)))
    np.testing.assert_array_equal(quantized_cdf.pmf_to_quantized_cdf(pmf, precision),
                                  tfc_ops.pmf_to_quantized_cdf(pmf, precision),
                                  err_msg=f"case {case}")


def test_quantized_cdfs_are_valid_rows():
  rng = np.random.default_rng(4)
  for case in range(200):
    precision = int(rng.integers(1, 17))
    pmf = random_pmf(rng, case, int(rng.integers(2, min(1 << precision, 300) + 1)))
    cdf = quantized_cdf.pmf_to_quantized_cdf(pmf, precision)
    assert cdf[0] == 0 and cdf[-1] == 1 << precision and np.all(np.diff(cdf) >= 1)
  batch = np.stack([random_pmf(rng, 1, 9), random_pmf(rng, 2, 9)])
  np.testing.assert_array_equal(quantized_cdf.pmf_to_quantized_cdf(batch, 16),
                                [quantized_cdf.pmf_to_quantized_cdf(p, 16) for p in batch])


@pytest.mark.parametrize("pmf, precision, problem", [
    ([0.5, 0.5], 0, "precision 0 not in 1..16"),
    ([0.5, 0.5], 17, "precision 17 not in 1..16"),
    ([1.0], 16, "at least 2 entries"),
    ([0.5, -0.1, 0.6], 16, "non-finite or negative"),
    ([0.5, np.nan], 16, "non-finite or negative"),
    ([0.2] * 5, 2, "5 symbols cannot each have a count"),
])
def test_unquantizable_pmfs_are_refused(pmf, precision, problem):
  with pytest.raises(ValueError, match=problem):
    quantized_cdf.pmf_to_quantized_cdf(np.array(pmf), precision)


def _median_of_three_killer(n: int) -> np.ndarray:
  """Musser's sequence, on which median-of-three quicksort degrades, so that
  introsort falls back to heapsort."""
  keys = np.zeros(n)
  for i in range(1, n // 2 + 1):
    if i % 2:
      keys[i - 1], keys[i] = i, n // 2 + i
    keys[n // 2 + i - 1] = 2 * i
  return keys


@pytest.mark.parametrize("keys", [
    np.array([]), np.array([3.0]), np.random.default_rng(5).integers(0, 4, 300) * 1.0,
    np.where(np.random.default_rng(6).random(200) < 0.3, np.inf, 1.0),
    _median_of_three_killer(1000), _median_of_three_killer(4000)])
def test_the_queue_sort_sorts(keys):
  """Sorted permutations, on ties, infinities and heapsort's inputs (the
  tie order is libstdc++'s: checked through tfc's op above, and against
  g++'s std::sort when it was written)."""
  order = np.arange(len(keys))
  quantized_cdf.sort_like_libstdcxx(order, keys)
  np.testing.assert_array_equal(np.sort(order), np.arange(len(keys)))
  assert np.all(keys[order][1:] >= keys[order][:-1])


_REBUILD_BUNDLED_TABLES = """
import os
import numpy as np
from lic_jax import codec as codec_lib
from lic_jax.assets import DEFAULT_FAMILY, PRETRAINED
for quality in range(1, 6):
  c = codec_lib.Codec.load(None, quality)
  fresh = codec_lib.CODECS[c.name].freeze(c.model, c.impl.params)
  path = os.path.join(PRETRAINED, DEFAULT_FAMILY, f"q{quality}", codec_lib.TABLES_FILE)
  with np.load(path) as stored:
    stored = {k: stored[k] for k in stored.files if not k.startswith("meta/")}
  assert sorted(fresh) == sorted(stored)
  for key, value in stored.items():
    if np.issubdtype(value.dtype, np.floating):
      np.testing.assert_allclose(fresh[key], value, rtol=1e-14, err_msg=f"q{quality} {key}")
    else:
      np.testing.assert_array_equal(fresh[key], value, err_msg=f"q{quality} {key}")
print("identical")
"""


def test_bundled_tables_rebuild_identically_without_tensorflow():
  """The bundled levels' tables were quantized by tfc's op; freezing their
  parameters again here gives the same integers. (The stored float scales
  can differ in the last bit: numpy 2's exp is not numpy 1.26's. The codec
  reads the stored tables, never recomputed ones.) At XLA's default
  optimizations, as they were frozen, so in a process of its own: the suite
  compiles without them (conftest.py), and there one of q4's 5504 CDF
  entries comes out 1 apart, its float density rounded differently."""
  result = subprocess.run([sys.executable, "-c", _REBUILD_BUNDLED_TABLES], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "JAX_DISABLE_MOST_OPTIMIZATIONS": "0"})
  assert result.returncode == 0 and result.stdout == "identical\n", result.stderr[-3000:]


def test_unknown_coders_are_refused():
  with pytest.raises(ValueError, match="unknown range coder 'zlib' \\(one of lic_jax, tfc\\)"):
    with range_coder.use_coder("zlib"):
      pass


@requires_tfc
def test_use_coder_tfc_writes_and_reads_the_same_streams():
  lookup, values, indexes, ours = coded(7, 2000)
  with range_coder.use_coder("tfc"):
    assert range_coder.encode(values, indexes, lookup) == ours
    np.testing.assert_array_equal(range_coder.decode(ours, indexes, lookup), values)
    with pytest.raises(BitstreamError, match="do not end with its 2000 symbols"):
      range_coder.decode(ours + b"\x01\x02\x03", indexes, lookup)
