"""tensorflow-compression's range coder ops (pip install lic_jax[tfc]): the
reference our own coder (lic_jax.coding.range_coder) and quantized CDFs
(lic_jax.coding.quantized_cdf) are checked against, and the coder
range_coder.use_coder("tfc") selects.

Tables are stacks of CDFs, one per row (the layout is described in
lic_jax.coding.range_coder).

TensorFlow is imported on first use, and only here: nothing else in lic_jax
needs it to train, evaluate or code.
"""

import functools

import numpy as np


def available() -> bool:
  """Whether tfc's ops can be imported (without importing them)."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  return any(importlib.util.find_spec(name) is not None
             for name in ("tensorflow_compression_ops", "tensorflow_compression"))


def require() -> None:
  """Imports tfc's ops, or raises ValueError in one line."""
  try:
    _ops()
  except ImportError as e:
    raise ValueError(f"tensorflow-compression's range coder cannot be imported ({e}): "
                     "pip install 'lic_jax[tfc]'") from None


@functools.lru_cache(maxsize=None)
def _ops():
  import os  # pylint: disable=g-import-not-at-top
  # TensorFlow's C++ log at import speaks of GPU plugins (cuFFT, cuDNN,
  # cuBLAS factories registered twice, no TensorRT) that these CPU ops never
  # use, at level E: only FATAL is let through while it loads (JAX has set
  # the variable to 1 by then, so a default would not hold). The ops'
  # errors still raise in Python.
  level = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
  os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
  try:
    try:
      import tensorflow_compression_ops as tfc  # pylint: disable=g-import-not-at-top
    except ImportError as missing:
      try:  # The full package exposes the same ops.
        import tensorflow_compression as tfc  # pylint: disable=g-import-not-at-top
      except ImportError:
        raise missing from None
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    tf.config.set_visible_devices([], "GPU")
  finally:
    if level is None:
      del os.environ["TF_CPP_MIN_LOG_LEVEL"]
    else:
      os.environ["TF_CPP_MIN_LOG_LEVEL"] = level
  return tf, tfc


def pmf_to_quantized_cdf(pmf: np.ndarray, precision: int) -> np.ndarray:
  """tfc's op: the int32 CDFs (..., n + 1) of float32 pmfs (..., n)."""
  _, tfc = _ops()
  return tfc.pmf_to_quantized_cdf(np.asarray(pmf, np.float32), precision=precision).numpy()


def _shape(flat: np.ndarray) -> np.ndarray:
  # An int32 array, not a Python list: TF converts a list through a slow
  # generic path (~0.1 ms per call, which the wavefront pays once per step).
  return np.array(flat.shape, np.int32)


def encode(values: np.ndarray, indexes: np.ndarray, lookup: np.ndarray) -> bytes:
  """Range-codes int values, each with the CDF row given by its index."""
  _, tfc = _ops()
  if values.shape != indexes.shape:
    raise ValueError(f"values {values.shape} and indexes {indexes.shape} differ")
  handle = tfc.create_range_encoder([], lookup)
  handle = tfc.entropy_encode_index(handle, indexes.astype(np.int32).ravel(),
                                    values.astype(np.int32).ravel())
  return tfc.entropy_encode_finalize(handle).numpy()


class Decoder:
  """tfc's decoder over one stream, in one call or several.

  Reference only (tests, benchmarks): on a corrupt stream it can loop
  forever, see lic_jax.coding.range_coder.
  """

  def __init__(self, data: bytes, lookup: np.ndarray):
    self._tf, self._tfc = _ops()
    self._handle = self._tfc.create_range_decoder(data, lookup)

  def decode(self, indexes: np.ndarray) -> np.ndarray:
    flat = indexes.astype(np.int32).ravel()
    self._handle, values = self._tfc.entropy_decode_index(
        self._handle, flat, _shape(flat), self._tf.int32)
    return values.numpy().reshape(indexes.shape)

  def finish(self) -> bool:
    """tfc's finalize flag: False if the stream did not end with its symbols."""
    return bool(self._tfc.entropy_decode_finalize(self._handle).numpy())


def decode(data: bytes, indexes: np.ndarray, lookup: np.ndarray) -> tuple[np.ndarray, bool]:
  """(values of shape indexes.shape, the finalize flag) from tfc's decoder."""
  decoder = Decoder(data, lookup)
  values = decoder.decode(indexes)
  return values, decoder.finish()
