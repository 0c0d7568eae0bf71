"""The range coder: tensorflow-compression's bytes, with every loop bounded.

The files are range-coded exactly as tensorflow-compression's
`entropy_encode_index` writes them (Martin's coder with a 32-bit interval
renormalized 16 bits at a time, a carry delayed until it resolves, and
trailing zero bytes left implicit). This module reads and writes those very
bytes, compiled with numba, about as fast as tfc's C++ (1.14x its encode
time, 1.04x its decode time on a Kodak latent: results/range_coder.json); with the quantized CDFs of
lic_jax.coding.quantized_cdf, coding needs no TensorFlow at all.
tensorflow-compression (frozen; its last release needs TF 2.17) stays the
reference it is cross-checked against (lic_jax.coding.tfc_ops;
tests/test_range_coder.py, benchmarks/range_coder.py).

Why a decoder of our own: tfc's reads the Elias-gamma prefix of an escaped
value with an unbounded loop, so a corrupt stream that passes the file's
checksum (or one read past its end, where only zero bits come) never
returns, and Python cannot interrupt it. Here a prefix longer than an int32
value can have is corruption, and so is a stream that does not end where
its last symbol does: both raise BitstreamError.

`use_coder("tfc")` routes encode and Decoder through tensorflow-compression's
ops instead (pip install lic_jax[tfc]; the codec CLI's --range-coder tfc):
the files are the same bytes, and a corrupt one can hang tfc's decoder.

Lookup tables are stacks of rows [precision, 0, c_1, ..., 2^|precision|],
padded at the end with 2^|precision|. A negative precision switches on the
overflow escape: the last symbol of the row is an escape after which a value
outside [0, last) follows as an Elias-gamma magnitude and a sign, one binary
decision each (the escape value v >= last is sent as v - last + 1, a negative
v as -v), so no value is ever clipped.
"""

import contextlib
import dataclasses

import numba
import numpy as np

from lic_jax.coding.container import BitstreamError

PRECISION = 16
_MASK32 = 0xFFFFFFFF
# An escaped magnitude g >= 1 is sent as floor(log2 g) zero bits and the
# bits of g; an int32 has at most 30 leading zeros to send.
_MAX_GAMMA_ZEROS = 30
_INT32_MAX = (1 << 31) - 1

# The coders use_coder can select: ours, and tfc's ops (the reference).
CODERS = ("lic_jax", "tfc")
_coder = "lic_jax"

# Status codes of the compiled kernels (0: success).
_INDEX_OUT_OF_RANGE, _VALUE_OUT_OF_RANGE, _ESCAPE_TOO_LONG, _ESCAPE_OVERFLOW = 1, 2, 3, 4
_ERRORS = {
    _INDEX_OUT_OF_RANGE: "a table index outside the lookup",
    _VALUE_OUT_OF_RANGE: "a value outside its table without an escape",
    _ESCAPE_TOO_LONG: "an escape code longer than any int32 value needs",
    _ESCAPE_OVERFLOW: "an escaped value beyond int32",
}


@dataclasses.dataclass(frozen=True)
class Lookup:
  """A validated table: rows (R, width) int32 and the number of CDF entries
  of each row (its span without the precision and the padding)."""

  rows: np.ndarray
  lengths: np.ndarray

  @classmethod
  def of(cls, rows: np.ndarray) -> "Lookup":
    """Checks the layout tfc's coder requires; raises ValueError naming the row."""
    rows = np.ascontiguousarray(rows, np.int32)
    if rows.ndim != 2 or rows.shape[1] < 3:
      raise ValueError(f"a lookup is (rows, >= 3) int32, got shape {rows.shape}")
    precision = np.abs(rows[:, 0].astype(np.int64))
    bad = np.flatnonzero((precision < 1) | (precision > 16))
    if bad.size:
      raise ValueError(f"lookup row {bad[0]}: precision {rows[bad[0], 0]} not in 1..16")
    last = (1 << precision)[:, None]
    cdf = rows[:, 1:].astype(np.int64)
    # The CDF ends at the first 2^precision; everything after it is padding.
    at_last = cdf == last
    ends = np.where(at_last.any(1), np.argmax(at_last, 1), -1)
    for r in range(rows.shape[0]):
      end = ends[r]
      if cdf[r, 0] != 0 or end < 1:
        raise ValueError(f"lookup row {r}: a CDF runs from 0 to 2^precision")
      if np.any(np.diff(cdf[r, :end + 1]) < 0) or np.any(cdf[r, end:] != last[r]):
        raise ValueError(f"lookup row {r}: the CDF decreases or its padding is not "
                         "2^precision")
    return cls(rows, (ends + 1).astype(np.int32))


@numba.njit(cache=True, nogil=True, inline="always")
def _encode_interval(out, n, base, size_m1, delay, lower, upper, precision):
  """Narrows the interval to [lower, upper) / 2^precision (tfc's Encode);
  returns (base, size - 1, delay, n), the bytes written to out[n:].

  All arithmetic in int64 on values below 2^49, the 32-bit wraparound of
  the reference made explicit with masks. Each call adds at most two bytes
  to the output: its own, or two left waiting on a carry (the top of the
  base, or two 0xFF/0x00 fill bytes) that a later call writes.
  """
  size = size_m1 + 1
  a = (size * lower) >> precision
  b = ((size * upper) >> precision) - 1
  base_overflow = base + a > _MASK32
  base = (base + a) & _MASK32
  size_m1 = b - a
  if base + size_m1 > _MASK32:
    # The interval straddles 2^32 (a carry is pending): renormalize without
    # output, counting the bytes that wait on the carry (0x00 if it comes,
    # 0xFF if not).
    if size_m1 >> 16 == 0:
      base = (base << 16) & _MASK32
      size_m1 = (size_m1 << 16) | 0xFFFF
      delay += 0x20000
    return base, size_m1, delay, n
  if delay != 0:
    # The pending carry resolved: up (the base passed 2^32) or down.
    fill = 0
    if not base_overflow:
      delay -= 1
      fill = 0xFF
    out[n] = (delay >> 8) & 0xFF
    out[n + 1] = delay & 0xFF
    n += 2
    for _ in range(delay >> 16):
      out[n] = fill
      n += 1
    delay = 0
  if size_m1 >> 16 == 0:
    top = base >> 16
    base = (base << 16) & _MASK32
    size_m1 = (size_m1 << 16) | 0xFFFF
    if base + size_m1 <= _MASK32:
      out[n] = (top >> 8) & 0xFF
      out[n + 1] = top & 0xFF
      n += 2
    else:
      delay = top + 1
  return base, size_m1, delay, n


@numba.njit(cache=True, nogil=True)
def _encode(values, indexes, rows, lengths):
  """(bytes as uint8, status, position of the first bad symbol)."""
  # Pass 1: check every symbol and count the intervals coded (an escaped
  # value adds the Elias-gamma bits of its magnitude and its sign), which
  # bound the output at two bytes each, so that pass 2 writes unchecked.
  intervals = 0
  for i in range(values.shape[0]):
    index = indexes[i]
    if index < 0 or index >= rows.shape[0]:
      return np.empty(0, np.uint8), _INDEX_OUT_OF_RANGE, i
    escape = lengths[index] - 2  # the last symbol of an escaping row
    value = np.int64(values[i])
    intervals += 1
    if 0 <= value < escape or (rows[index, 0] > 0 and value == escape):
      continue
    if rows[index, 0] > 0:
      return np.empty(0, np.uint8), _VALUE_OUT_OF_RANGE, i
    gamma = -value if value < 0 else value - escape + 1
    if gamma > _INT32_MAX:
      return np.empty(0, np.uint8), _ESCAPE_OVERFLOW, i
    bits = 1
    while gamma >= (np.int64(1) << bits):
      bits += 1
    intervals += 2 * bits
  out = np.empty(2 * intervals + 2, np.uint8)
  n = 0
  base, size_m1, delay = np.int64(0), np.int64(_MASK32), np.int64(0)
  for i in range(values.shape[0]):
    index = indexes[i]
    precision = np.int64(rows[index, 0])
    escape = lengths[index] - 2
    value = np.int64(values[i])
    if precision > 0 or 0 <= value < escape:
      base, size_m1, delay, n = _encode_interval(
          out, n, base, size_m1, delay, rows[index, 1 + value], rows[index, 2 + value],
          abs(precision))
      continue
    sign = 1 if value < 0 else 0
    gamma = -value if sign else value - escape + 1
    base, size_m1, delay, n = _encode_interval(
        out, n, base, size_m1, delay, rows[index, 1 + escape], rows[index, 2 + escape],
        -precision)
    bits = 1
    while gamma >= (np.int64(1) << bits):
      base, size_m1, delay, n = _encode_interval(out, n, base, size_m1, delay, 0, 1, 1)
      bits += 1
    for k in range(bits - 1, -1, -1):
      bit = (gamma >> k) & 1
      base, size_m1, delay, n = _encode_interval(out, n, base, size_m1, delay, bit, bit + 1, 1)
    base, size_m1, delay, n = _encode_interval(out, n, base, size_m1, delay, sign, sign + 1, 1)
  # Finalize: any number in the final interval, trailing zero bytes implicit.
  if delay != 0:
    out[n] = (delay >> 8) & 0xFF
    n += 1
    if delay & 0xFF:
      out[n] = delay & 0xFF
      n += 1
  elif base != 0:
    upper = (base + size_m1) & _MASK32
    mid = ((base - 1) >> 24) + 1
    if mid <= upper >> 24:
      out[n] = mid & 0xFF
      n += 1
    else:
      mid = ((base - 1) >> 16) + 1
      out[n] = (mid >> 8) & 0xFF
      n += 1
      if mid & 0xFF:
        out[n] = mid & 0xFF
        n += 1
  return out[:n], 0, -1


@numba.njit(cache=True, nogil=True, inline="always")
def _read16(data, value, pos):
  """Shifts the next two bytes (zeros past the end) into the value;
  returns (value, pos)."""
  for _ in range(2):
    value = (value << 8) & _MASK32
    if pos < data.shape[0]:
      value |= data[pos]
      pos += 1
  return value, pos


@numba.njit(cache=True, nogil=True, inline="always")
def _decode_symbol(data, rows, row, length, precision, base, size_m1, value, pos):
  """The symbol whose interval holds the value (tfc's Decode), with the CDF
  rows[row, 1:length + 1] running from 0 to 2^precision, so the search
  always ends inside it; returns (symbol, base, size - 1, value, pos)."""
  size = size_m1 + 1
  target = (((value - base) & _MASK32) + 1) << precision
  # The smallest s >= 1 with target <= size * cdf[s].
  lo, hi = 1, length - 1
  while lo < hi:
    mid = (lo + hi) >> 1
    if target <= size * rows[row, 1 + mid]:
      hi = mid
    else:
      lo = mid + 1
  a = (size * rows[row, lo]) >> precision
  b = ((size * rows[row, 1 + lo]) >> precision) - 1
  base = (base + a) & _MASK32
  size_m1 = b - a
  if size_m1 >> 16 == 0:
    base = (base << 16) & _MASK32
    size_m1 = (size_m1 << 16) | 0xFFFF
    value, pos = _read16(data, value, pos)
  return lo - 1, base, size_m1, value, pos


# The uniform binary CDF of the escape code's bits, as a lookup row.
_BINARY_ROW = np.array([[1, 0, 1, 2]], np.int64)


@numba.njit(cache=True, nogil=True)
def _decode(state, data, indexes, rows, lengths, out):
  """Decodes len(indexes) values into out, from and back into state =
  [base, size - 1, value, pos]; (status, position of the failure)."""
  base, size_m1, value, pos = state[0], state[1], state[2], state[3]
  binary = _BINARY_ROW
  status, failed = 0, -1
  for i in range(indexes.shape[0]):
    index = indexes[i]
    if index < 0 or index >= rows.shape[0]:
      status, failed = _INDEX_OUT_OF_RANGE, i
      break
    precision = np.int64(rows[index, 0])
    symbol, base, size_m1, value, pos = _decode_symbol(
        data, rows, index, lengths[index], abs(precision), base, size_m1, value, pos)
    escape = lengths[index] - 2
    if precision > 0 or symbol != escape:
      out[i] = symbol
      continue
    zeros = 0
    while True:
      bit, base, size_m1, value, pos = _decode_symbol(data, binary, 0, 3, 1, base, size_m1,
                                                      value, pos)
      if bit:
        break
      zeros += 1
      if zeros > _MAX_GAMMA_ZEROS:
        break
    if zeros > _MAX_GAMMA_ZEROS:
      status, failed = _ESCAPE_TOO_LONG, i
      break
    gamma = np.int64(1) << zeros
    for k in range(zeros - 1, -1, -1):
      bit, base, size_m1, value, pos = _decode_symbol(data, binary, 0, 3, 1, base, size_m1,
                                                      value, pos)
      gamma |= np.int64(bit) << k
    negative, base, size_m1, value, pos = _decode_symbol(data, binary, 0, 3, 1, base, size_m1,
                                                         value, pos)
    if negative:
      out[i] = -gamma
    elif gamma + escape - 1 > _INT32_MAX:
      status, failed = _ESCAPE_OVERFLOW, i
      break
    else:
      out[i] = gamma + escape - 1
  state[0], state[1], state[2], state[3] = base, size_m1, value, pos
  return status, failed


@numba.njit(cache=True, nogil=True)
def _start(data):
  """(value, pos) of a stream's first 32 bits."""
  value, pos = _read16(data, np.int64(0), 0)
  return _read16(data, value, pos)


@numba.njit(cache=True, nogil=True)
def _finished(state, data) -> bool:
  """Whether the stream ended where its last symbol did (tfc's Finalize):
  every byte read and the value the number the encoder would have written."""
  base, size_m1, value, pos = state[0], state[1], state[2], state[3]
  if pos != data.shape[0]:
    return False
  upper = (base + size_m1) & _MASK32
  if base == 0 or upper < base:
    return value == 0
  shift = 24 if ((base - 1) >> 24) < (upper >> 24) else 16
  return ((((base - 1) >> shift) + 1) << shift) & _MASK32 == value


def _flat(indexes: np.ndarray) -> np.ndarray:
  return np.ascontiguousarray(indexes, np.int32).ravel()


@contextlib.contextmanager
def use_coder(name: str):
  """Within the block, encode and Decoder run `name`'s coder (one of CODERS).
  ValueError for an unknown name, or for "tfc" without its ops installed."""
  global _coder  # pylint: disable=global-statement
  if name not in CODERS:
    raise ValueError(f"unknown range coder {name!r} (one of {', '.join(CODERS)})")
  if name == "tfc":
    _tfc_ops().require()
  previous, _coder = _coder, name
  try:
    yield
  finally:
    _coder = previous


def _tfc_ops():
  from lic_jax.coding import tfc_ops  # pylint: disable=g-import-not-at-top
  return tfc_ops


def encode(values: np.ndarray, indexes: np.ndarray, lookup: Lookup) -> bytes:
  """Range-codes int values, each with the row given by its index; the same
  bytes as tfc's entropy_encode_index."""
  values = np.asarray(values)
  if values.shape != np.shape(indexes):
    raise ValueError(f"values {values.shape} and indexes {np.shape(indexes)} differ")
  if _coder == "tfc":
    return _tfc_ops().encode(values, np.asarray(indexes), lookup.rows)
  flat_values = np.ascontiguousarray(values, np.int32).ravel()
  data, status, at = _encode(flat_values, _flat(indexes), lookup.rows, lookup.lengths)
  if status:
    raise ValueError(f"cannot encode symbol {at}: {_ERRORS[status]}")
  return data.tobytes()


class Decoder:
  """Decodes one stream, in one call or several (the autoregressive model's
  next indexes depend on the values decoded so far)."""

  def __init__(self, data: bytes, lookup: Lookup, name: str = "stream"):
    self._reference = _tfc_ops().Decoder(data, lookup.rows) if _coder == "tfc" else None
    self._data = np.frombuffer(data, np.uint8)
    self._lookup = lookup
    self._name = name
    self._state = np.array([0, _MASK32, 0, 0], np.int64)  # base, size - 1, value, pos
    self._decoded = 0
    self._state[2], self._state[3] = _start(self._data)

  def decode(self, indexes: np.ndarray) -> np.ndarray:
    """The next indexes.size values, each coded with the row of its index."""
    if self._reference is not None:
      self._decoded += np.size(indexes)
      return self._reference.decode(np.asarray(indexes))
    flat = _flat(indexes)
    out = np.empty(flat.shape, np.int32)
    status, at = _decode(self._state, self._data, flat, self._lookup.rows,
                         self._lookup.lengths, out)
    if status:
      raise BitstreamError(f"corrupt {self._name}: symbol {self._decoded + at} decodes "
                           f"to {_ERRORS[status]}")
    self._decoded += flat.size
    return out.reshape(np.shape(indexes))

  def finish(self) -> None:
    """Raises BitstreamError unless the stream ends with its last symbol."""
    finished = (self._reference.finish() if self._reference is not None
                else _finished(self._state, self._data))
    if not finished:
      raise BitstreamError(f"corrupt {self._name}: its {self._data.size} bytes do not "
                           f"end with its {self._decoded} symbols")


def decode(data: bytes, indexes: np.ndarray, lookup: Lookup,
           name: str = "stream") -> np.ndarray:
  """Inverse of encode: values of shape indexes.shape, or BitstreamError."""
  decoder = Decoder(data, lookup, name)
  values = decoder.decode(indexes)
  decoder.finish()
  return values
