"""The range coder: tensorflow-compression's bytes, with every loop bounded.

The files are range-coded exactly as tensorflow-compression's
`entropy_encode_index` writes them (Martin's coder with a 32-bit interval
renormalized 16 bits at a time, a carry delayed until it resolves, and
trailing zero bytes left implicit). This module reads and writes those very
bytes, compiled with numba; tensorflow-compression stays the reference it is
cross-checked against (lic_jax.coding.tfc_ops; tests/test_range_coder.py,
benchmarks/range_coder.py), not a dependency of coding: compressing and
decompressing never load TensorFlow.

Why a decoder of our own: tfc's reads the Elias-gamma prefix of an escaped
value with an unbounded loop, so a corrupt stream that passes the file's
checksum (or one read past its end, where only zero bits come) never
returns, and Python cannot interrupt it. Here a prefix longer than an int32
value can have is corruption, and so is a stream that does not end where
its last symbol does: both raise BitstreamError.

Lookup tables are stacks of rows [precision, 0, c_1, ..., 2^|precision|],
padded at the end with 2^|precision|. A negative precision switches on the
overflow escape: the last symbol of the row is an escape after which a value
outside [0, last) follows as an Elias-gamma magnitude and a sign, one binary
decision each (the escape value v >= last is sent as v - last + 1, a negative
v as -v), so no value is ever clipped.
"""

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


@numba.njit(cache=True, nogil=True)
def _push(out, n, byte):
  """Appends a byte to out[:n], doubling out when full; returns (out, n + 1)."""
  if n == out.shape[0]:
    grown = np.empty(2 * out.shape[0], np.uint8)
    grown[:n] = out
    out = grown
  out[n] = byte & 0xFF
  return out, n + 1


@numba.njit(cache=True, nogil=True)
def _encode_interval(state, out, n, lower, upper, precision):
  """Narrows the interval to [lower, upper) / 2^precision (tfc's Encode).

  state = [base, size - 1, delay]; all arithmetic in int64 on values below
  2^49, the 32-bit wraparound of the reference made explicit with masks.
  """
  base, size_m1, delay = state[0], state[1], state[2]
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
    state[0], state[1], state[2] = base, size_m1, delay
    return out, n
  if delay != 0:
    # The pending carry resolved: up (the base passed 2^32) or down.
    fill = 0
    if not base_overflow:
      delay -= 1
      fill = 0xFF
    out, n = _push(out, n, delay >> 8)
    out, n = _push(out, n, delay)
    for _ in range(delay >> 16):
      out, n = _push(out, n, fill)
    delay = 0
  if size_m1 >> 16 == 0:
    top = base >> 16
    base = (base << 16) & _MASK32
    size_m1 = (size_m1 << 16) | 0xFFFF
    if base + size_m1 <= _MASK32:
      out, n = _push(out, n, top >> 8)
      out, n = _push(out, n, top)
    else:
      delay = top + 1
  state[0], state[1], state[2] = base, size_m1, delay
  return out, n


@numba.njit(cache=True, nogil=True)
def _encode(values, indexes, rows, lengths):
  """(bytes as uint8, status, position of the first bad symbol)."""
  state = np.array([0, _MASK32, 0], np.int64)
  out = np.empty(max(64, values.shape[0] // 2), np.uint8)
  n = 0
  for i in range(values.shape[0]):
    index = indexes[i]
    if index < 0 or index >= rows.shape[0]:
      return out[:0], _INDEX_OUT_OF_RANGE, i
    row = rows[index]
    cdf = row[1:]
    escape = lengths[index] - 2  # the last symbol of an escaping row
    value = np.int64(values[i])
    if row[0] > 0:
      if value < 0 or value > escape:
        return out[:0], _VALUE_OUT_OF_RANGE, i
      out, n = _encode_interval(state, out, n, cdf[value], cdf[value + 1], row[0])
      continue
    precision = -row[0]
    if 0 <= value < escape:
      out, n = _encode_interval(state, out, n, cdf[value], cdf[value + 1], precision)
      continue
    sign = 1 if value < 0 else 0
    gamma = -value if sign else value - escape + 1
    if gamma > _INT32_MAX:
      return out[:0], _ESCAPE_OVERFLOW, i
    out, n = _encode_interval(state, out, n, cdf[escape], cdf[escape + 1], precision)
    bits = 1
    while gamma >= (np.int64(1) << bits):
      out, n = _encode_interval(state, out, n, 0, 1, 1)
      bits += 1
    for k in range(bits - 1, -1, -1):
      bit = (gamma >> k) & 1
      out, n = _encode_interval(state, out, n, bit, bit + 1, 1)
    out, n = _encode_interval(state, out, n, sign, sign + 1, 1)
  # Finalize: any number in the final interval, trailing zero bytes implicit.
  base, size_m1, delay = state[0], state[1], state[2]
  if delay != 0:
    out, n = _push(out, n, delay >> 8)
    if delay & 0xFF:
      out, n = _push(out, n, delay)
  elif base != 0:
    upper = (base + size_m1) & _MASK32
    mid = ((base - 1) >> 24) + 1
    if mid <= upper >> 24:
      out, n = _push(out, n, mid)
    else:
      mid = ((base - 1) >> 16) + 1
      out, n = _push(out, n, mid >> 8)
      if mid & 0xFF:
        out, n = _push(out, n, mid)
  return out[:n], 0, -1


@numba.njit(cache=True, nogil=True)
def _read16(state, data):
  """Shifts the next two bytes (zeros past the end) into the value."""
  value, pos = state[2], state[3]
  for _ in range(2):
    value = (value << 8) & _MASK32
    if pos < data.shape[0]:
      value |= data[pos]
      pos += 1
  state[2], state[3] = value, pos


@numba.njit(cache=True, nogil=True)
def _decode_symbol(state, data, cdf, length, precision):
  """The symbol whose interval holds the value (tfc's Decode); cdf[:length]
  runs from 0 to 2^precision, so the search always ends inside it."""
  base, size_m1, value = state[0], state[1], state[2]
  size = size_m1 + 1
  target = (((value - base) & _MASK32) + 1) << precision
  # The smallest s >= 1 with target <= size * cdf[s].
  lo, hi = 1, length - 1
  while lo < hi:
    mid = (lo + hi) >> 1
    if target <= size * cdf[mid]:
      hi = mid
    else:
      lo = mid + 1
  a = (size * cdf[lo - 1]) >> precision
  b = ((size * cdf[lo]) >> precision) - 1
  base = (base + a) & _MASK32
  size_m1 = b - a
  state[0], state[1] = base, size_m1
  if size_m1 >> 16 == 0:
    state[0] = (base << 16) & _MASK32
    state[1] = (size_m1 << 16) | 0xFFFF
    _read16(state, data)
  return lo - 1


# The uniform binary CDF of the escape code's bits.
_BINARY_CDF = np.array([0, 1, 2], np.int32)


@numba.njit(cache=True, nogil=True)
def _decode_bit(state, data):
  return _decode_symbol(state, data, _BINARY_CDF, 3, 1)


@numba.njit(cache=True, nogil=True)
def _decode(state, data, indexes, rows, lengths, out):
  """Decodes len(indexes) values into out; (status, position of the failure)."""
  for i in range(indexes.shape[0]):
    index = indexes[i]
    if index < 0 or index >= rows.shape[0]:
      return _INDEX_OUT_OF_RANGE, i
    row = rows[index]
    value = _decode_symbol(state, data, row[1:], lengths[index], abs(row[0]))
    escape = lengths[index] - 2
    if row[0] > 0 or value != escape:
      out[i] = value
      continue
    zeros = 0
    while _decode_bit(state, data) == 0:
      zeros += 1
      if zeros > _MAX_GAMMA_ZEROS:
        return _ESCAPE_TOO_LONG, i
    gamma = np.int64(1) << zeros
    for k in range(zeros - 1, -1, -1):
      gamma |= np.int64(_decode_bit(state, data)) << k
    if _decode_bit(state, data):
      out[i] = -gamma
    elif gamma + escape - 1 > _INT32_MAX:
      return _ESCAPE_OVERFLOW, i
    else:
      out[i] = gamma + escape - 1
  return 0, -1


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


def encode(values: np.ndarray, indexes: np.ndarray, lookup: Lookup) -> bytes:
  """Range-codes int values, each with the row given by its index; the same
  bytes as tfc's entropy_encode_index."""
  values = np.asarray(values)
  if values.shape != np.shape(indexes):
    raise ValueError(f"values {values.shape} and indexes {np.shape(indexes)} differ")
  flat_values = np.ascontiguousarray(values, np.int32).ravel()
  data, status, at = _encode(flat_values, _flat(indexes), lookup.rows, lookup.lengths)
  if status:
    raise ValueError(f"cannot encode symbol {at}: {_ERRORS[status]}")
  return data.tobytes()


class Decoder:
  """Decodes one stream, in one call or several (the autoregressive model's
  next indexes depend on the values decoded so far)."""

  def __init__(self, data: bytes, lookup: Lookup, name: str = "stream"):
    self._data = np.frombuffer(data, np.uint8)
    self._lookup = lookup
    self._name = name
    self._state = np.array([0, _MASK32, 0, 0], np.int64)  # base, size - 1, value, pos
    self._decoded = 0
    _read16(self._state, self._data)
    _read16(self._state, self._data)

  def decode(self, indexes: np.ndarray) -> np.ndarray:
    """The next indexes.size values, each coded with the row of its index."""
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
    if not _finished(self._state, self._data):
      raise BitstreamError(f"corrupt {self._name}: its {self._data.size} bytes do not "
                           f"end with its {self._decoded} symbols")


def decode(data: bytes, indexes: np.ndarray, lookup: Lookup,
           name: str = "stream") -> np.ndarray:
  """Inverse of encode: values of shape indexes.shape, or BitstreamError."""
  decoder = Decoder(data, lookup, name)
  values = decoder.decode(indexes)
  decoder.finish()
  return values
