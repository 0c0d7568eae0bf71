"""tensorflow-compression's `pmf_to_quantized_cdf`, integer for integer,
without TensorFlow.

The coding tables of every model are quantized CDFs. They were made by tfc's
op; made here, they are the same integers, so tables frozen with or without
TensorFlow code the same bytes (tests/test_range_coder.py checks against
the op on random and tied pmfs).

The op (precision p, pmf as float32, one row at a time):
1. every mass becomes max(1, rint(mass * 2^p)) in float32 arithmetic;
2. while the counts sum above 2^p, the count that loses the least code
   length when decremented (mass * (log2 c - log2 (c - 1)), never below 1)
   is decremented; while below, the one that gains most when incremented
   (mass * (log2 (c + 1) - log2 c)) is incremented;
3. the CDF is the running sum, from 0.

Step 2 keeps the counts in a queue sorted by that key with C++'s std::sort,
which is not stable: among equal keys (equal masses with equal counts, as in
every symmetric pmf) the one adjusted first is whichever the sort put first.
So the sort below is libstdc++'s introsort step by step (median-of-three
quicksort down to 16 elements, heapsort past 2 log2 n levels, a final
insertion sort), and the queue moves the adjusted count behind every count
of equal key as the op's find_if and rotate do.
"""

import numba
import numpy as np

# libstdc++'s _S_threshold: segments this short are left to the insertion sort.
_THRESHOLD = 16


@numba.njit(cache=True, nogil=True)
def _sift_down(order, keys, first, hole, length, value):
  """libstdc++'s __adjust_heap then __push_heap on order[first:first + length]
  (a max-heap by key), filling `hole` with `value`."""
  top, child = hole, hole
  while child < (length - 1) // 2:
    child = 2 * (child + 1)
    if keys[order[first + child]] < keys[order[first + child - 1]]:
      child -= 1
    order[first + hole] = order[first + child]
    hole = child
  if length % 2 == 0 and child == (length - 2) // 2:
    child = 2 * (child + 1)
    order[first + hole] = order[first + child - 1]
    hole = child - 1
  parent = (hole - 1) // 2
  while hole > top and keys[order[first + parent]] < keys[value]:
    order[first + hole] = order[first + parent]
    hole = parent
    parent = (hole - 1) // 2
  order[first + hole] = value


@numba.njit(cache=True, nogil=True)
def _heap_sort(order, keys, first, last):
  """libstdc++'s __partial_sort(first, last, last): make_heap, sort_heap."""
  length = last - first
  if length >= 2:
    parent = (length - 2) // 2
    while True:
      _sift_down(order, keys, first, parent, length, order[first + parent])
      if parent == 0:
        break
      parent -= 1
  while last - first > 1:
    last -= 1
    value = order[last]
    order[last] = order[first]
    _sift_down(order, keys, first, 0, last - first, value)


@numba.njit(cache=True, nogil=True)
def _median_to_first(order, keys, result, a, b, c):
  """libstdc++'s __move_median_to_first."""
  ka, kb, kc = keys[order[a]], keys[order[b]], keys[order[c]]
  if ka < kb:
    pick = b if kb < kc else (c if ka < kc else a)
  else:
    pick = a if ka < kc else (c if kb < kc else b)
  order[result], order[pick] = order[pick], order[result]


@numba.njit(cache=True, nogil=True)
def _partition(order, keys, first, last):
  """libstdc++'s __unguarded_partition_pivot: the cut of [first, last)."""
  _median_to_first(order, keys, first, first + 1, first + (last - first) // 2, last - 1)
  pivot = keys[order[first]]
  lo, hi = first + 1, last
  while True:
    while keys[order[lo]] < pivot:
      lo += 1
    hi -= 1
    while pivot < keys[order[hi]]:
      hi -= 1
    if not lo < hi:
      return lo
    order[lo], order[hi] = order[hi], order[lo]
    lo += 1


@numba.njit(cache=True, nogil=True)
def _introsort(order, keys, depth):
  """libstdc++'s __introsort_loop over the whole array. It recurses into
  the right part of each cut and loops on the left; the parts are disjoint,
  so a stack of (first, last, depth) does the same (numba's cache cannot
  hold a recursive function)."""
  stack = [(0, order.shape[0], depth)]
  while stack:
    first, last, depth = stack.pop()
    while last - first > _THRESHOLD:
      if depth == 0:
        _heap_sort(order, keys, first, last)
        break
      depth -= 1
      cut = _partition(order, keys, first, last)
      stack.append((cut, last, depth))
      last = cut


@numba.njit(cache=True, nogil=True)
def _insert(order, keys, first, i, guarded):
  """libstdc++'s insertion step for order[i]: to the front if it is below
  order[first] (when guarded), else down to behind the last key <= its own."""
  value = order[i]
  key = keys[value]
  if guarded and key < keys[order[first]]:
    order[first + 1:i + 1] = order[first:i].copy()
    order[first] = value
    return
  j = i
  while key < keys[order[j - 1]]:
    order[j] = order[j - 1]
    j -= 1
  order[j] = value


@numba.njit(cache=True, nogil=True)
def sort_like_libstdcxx(order, keys):
  """Sorts order in place by keys[order] ascending, ties exactly as
  libstdc++'s std::sort leaves them."""
  n = order.shape[0]
  if n == 0:
    return
  depth = 0
  while (1 << (depth + 1)) <= n:
    depth += 1
  _introsort(order, keys, 2 * depth)
  # __final_insertion_sort: guarded over the first 16, unguarded after.
  for i in range(1, min(n, _THRESHOLD)):
    _insert(order, keys, 0, i, True)
  for i in range(_THRESHOLD, n):
    _insert(order, keys, 0, i, False)


@numba.njit(cache=True, nogil=True)
def _adjustment_key(mass, count, step):
  """The queue's key of a count: the code length lost by decrementing it
  (step -1, +inf below 2) or minus the one gained by incrementing it (step
  +1), so that both queues sort ascending."""
  if step < 0:
    if count <= 1:
      return np.inf
    return mass * (np.log2(np.float64(count)) - np.log2(np.float64(count - 1)))
  return -(mass * (np.log2(np.float64(count + 1)) - np.log2(np.float64(count))))


@numba.njit(cache=True, nogil=True)
def _quantize_row(pmf, precision, counts):
  """Counts of one float32 pmf summing to 2^precision (steps 1 and 2)."""
  normalizer = 1 << precision
  scale = np.float32(normalizer)
  total = 0
  for i in range(pmf.shape[0]):
    counts[i] = max(np.int32(np.rint(pmf[i] * scale)), 1)
    total += counts[i]
  if total == normalizer:
    return
  step = -1 if total > normalizer else 1
  mass = pmf.astype(np.float64)
  keys = np.empty(pmf.shape[0], np.float64)
  for i in range(pmf.shape[0]):
    keys[i] = _adjustment_key(mass[i], counts[i], step)
  order = np.arange(pmf.shape[0])
  sort_like_libstdcxx(order, keys)
  n = order.shape[0]
  while total != normalizer:
    head = order[0]
    counts[head] += step
    total += step
    keys[head] = _adjustment_key(mass[head], counts[head], step)
    # find_if the first later key above the new one, rotate the head there.
    j = 1
    while j < n and not keys[head] < keys[order[j]]:
      order[j - 1] = order[j]
      j += 1
    order[j - 1] = head


@numba.njit(cache=True, nogil=True)
def _quantize(pmfs, precision, cdfs):
  counts = np.empty(pmfs.shape[1], np.int32)
  for r in range(pmfs.shape[0]):
    _quantize_row(pmfs[r], precision, counts)
    cdfs[r, 0] = 0
    for i in range(pmfs.shape[1]):
      cdfs[r, i + 1] = cdfs[r, i] + counts[i]


def pmf_to_quantized_cdf(pmf, precision: int) -> np.ndarray:
  """The int32 CDFs (..., n + 1) of pmfs (..., n), as tfc's op makes them.

  The pmf is read as float32 and not normalized (as by the op): its masses
  are what step 1 rounds.
  """
  pmf = np.asarray(pmf, np.float32)
  if not 1 <= precision <= 16:
    raise ValueError(f"precision {precision} not in 1..16")
  if pmf.ndim < 1 or pmf.shape[-1] < 2:
    raise ValueError(f"a pmf has at least 2 entries in its last axis, got shape {pmf.shape}")
  if not np.all(np.isfinite(pmf) & (pmf >= 0)):
    raise ValueError("a pmf has a non-finite or negative entry")
  if pmf.shape[-1] > 1 << precision:
    raise ValueError(f"{pmf.shape[-1]} symbols cannot each have a count of "
                     f"2^{precision} in all")
  flat = np.ascontiguousarray(pmf.reshape(-1, pmf.shape[-1]))
  cdfs = np.empty((flat.shape[0], flat.shape[1] + 1), np.int32)
  _quantize(flat, precision, cdfs)
  return cdfs.reshape(pmf.shape[:-1] + (pmf.shape[-1] + 1,))
