"""Our range coder against tensorflow-compression's: the same bytes, the same
symbols, and an error where tfc's decoder would spin forever."""

import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT
from lic_jax.coding import range_coder, tfc_ops
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


def test_same_bytes_and_symbols_as_tfc_on_random_tables():
  """300 random tables and symbol batches (benchmarks/range_coder.py: 10,000)."""
  rng = np.random.default_rng(0)
  escapes = 0
  for case in range(300):
    rows = random_table(rng)
    lookup = range_coder.Lookup.of(rows)
    values, indexes = random_symbols(rng, lookup, int(rng.integers(0, 300)))
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


def test_an_endless_escape_code_is_an_error_where_tfc_spins_forever():
  start = time.perf_counter()
  with pytest.raises(BitstreamError, match="symbol 0 decodes to an escape code longer"):
    range_coder.decode(b"\x80", np.zeros(1, np.int32), range_coder.Lookup.of(_ESCAPE_ROW))
  assert time.perf_counter() - start < 1
  script = ("import numpy as np; from lic_jax.coding import tfc_ops; "
            f"tfc_ops.decode(b'\\x80', np.zeros(1, np.int32), np.array({_ESCAPE_ROW.tolist()}, "
            "np.int32))")
  with pytest.raises(subprocess.TimeoutExpired):
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, timeout=20,
                   capture_output=True, check=False)


def test_a_stream_that_does_not_end_with_its_symbols_is_an_error():
  rng = np.random.default_rng(2)
  lookup = range_coder.Lookup.of(random_table(rng))
  values, indexes = random_symbols(rng, lookup, 500)
  data = range_coder.encode(values, indexes, lookup)
  with pytest.raises(BitstreamError, match=r"corrupt y stream: its \d+ bytes do not end with "
                     "its 500 symbols"):
    range_coder.decode(data + b"\x01\x02\x03", indexes, lookup, "y stream")
  # tfc's decoder says the same through its finalize flag, which it only logs.
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
