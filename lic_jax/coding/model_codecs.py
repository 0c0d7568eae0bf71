"""How each model turns images into range-coded streams and back.

A model codec has three parts:
  freeze(model, params) -> arrays   the coding tables, built once and stored
  encode(images) -> [(streams, latents)]
  decode(streams, latent_shapes) -> (image, latents)
The transforms run as jitted Flax calls; everything that decides *how* a
symbol is coded (tables, scale indexes) is integer and bit-exact.
"""

import jax
import jax.numpy as jnp
import numpy as np

from lic_jax.coding import integer_network, range_coder, tables
from lic_jax.entropy_models import GaussianConditional


def _run(model, method):
  """A jitted model.apply(params, x, method=method)."""
  return jax.jit(lambda params, x: model.apply({"params": params}, x, method=method))


def _channel_indexes(shape: tuple[int, ...]) -> np.ndarray:
  return np.broadcast_to(np.arange(shape[-1], dtype=np.int32), shape)


class FactorizedCoder:
  """Codes q = round(y - median) per channel with the bottleneck's tables."""

  def __init__(self, arrays: dict[str, np.ndarray], prefix: str):
    self.lookup = arrays[f"{prefix}/lookup"]
    self.offsets = arrays[f"{prefix}/offsets"]
    self.medians = arrays[f"{prefix}/medians"]

  def encode(self, q: np.ndarray) -> bytes:
    return range_coder.encode(q - self.offsets, _channel_indexes(q.shape), self.lookup)

  def decode(self, data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    indexes = _channel_indexes(shape)
    return range_coder.decode(data, indexes, self.lookup) + self.offsets


class GaussianCoder:
  """Codes q = round(y) with the table of the scale selected by each index."""

  def __init__(self, arrays: dict[str, np.ndarray], prefix: str):
    self.lookup = arrays[f"{prefix}/lookup"]
    self.offsets = arrays[f"{prefix}/offsets"]

  def encode(self, q: np.ndarray, indexes: np.ndarray) -> bytes:
    return range_coder.encode(q - self.offsets[indexes], indexes, self.lookup)

  def decode(self, data: bytes, indexes: np.ndarray) -> np.ndarray:
    return range_coder.decode(data, indexes, self.lookup) + self.offsets[indexes]


class FactorizedPriorCodec:
  """bls2017: one stream, y coded with the per-channel bottleneck tables."""

  latents = ("y",)

  @staticmethod
  def freeze(model, params) -> dict[str, np.ndarray]:
    table = tables.factorized_table(model.num_latents, params["entropy_bottleneck"])
    return {f"y/{k}": v for k, v in table.items()}

  def __init__(self, model, params, arrays: dict[str, np.ndarray]):
    self.model, self.params = model, params
    self.coder = FactorizedCoder(arrays, "y")
    self._analysis = _run(model, lambda m, x: m.analysis(x))
    self._synthesis = _run(model, lambda m, y: m.synthesis(y))

  def latent_shapes(self, height: int, width: int) -> dict[str, tuple[int, ...]]:
    f = self.model.downsampling
    return {"y": (height // f, width // f, self.model.num_latents)}

  def encode(self, x: jax.Array) -> list[tuple[list[bytes], dict]]:
    y = np.asarray(self._analysis(self.params, x))
    q = np.round(y - self.coder.medians).astype(np.int32)
    return [([self.coder.encode(qi)], {"y": qi}) for qi in q]

  def decode(self, streams: list[bytes], shapes: dict) -> tuple[np.ndarray, dict]:
    q = self.coder.decode(streams[0], shapes["y"])
    y_hat = (q + self.coder.medians).astype(np.float32)
    return np.asarray(self._synthesis(self.params, y_hat[None]))[0], {"y": q}


class ScaleHyperpriorCodec:
  """bmshj2018: z with the bottleneck tables, then y with Gaussian tables
  indexed by the scales that the integer h_s computes from z^."""

  latents = ("z", "y")

  @staticmethod
  def freeze(model, params) -> dict[str, np.ndarray]:
    arrays = {f"z/{k}": v for k, v in tables.factorized_table(
        model.num_filters, params["entropy_bottleneck"]).items()}
    gc = GaussianConditional()  # the models' conditional, with its defaults
    scale_table = np.asarray(gc.scale_table)
    arrays.update({f"y/{k}": v for k, v in tables.gaussian_table(
        scale_table, gc.tail_mass).items()})
    # Each scale is coded with the table scale nearest to it in log domain:
    # index i covers (sqrt(s[i-1] s[i]), sqrt(s[i] s[i+1])]. CompressAI's rule
    # (the smallest table scale >= the predicted one) cost ~3% more bits
    # here, the nearest one matches the estimated rate to ~0.1%.
    arrays["y/thresholds"] = integer_network.to_fixed(
        np.sqrt(scale_table[:-1] * scale_table[1:]))
    arrays["z/medians_fixed"] = integer_network.to_fixed(arrays["z/medians"])
    hs = params["hyper_synthesis"]
    layers = [
        integer_network.quantize_conv(hs["ConvTranspose_0"]["kernel"],
                                      hs["ConvTranspose_0"]["bias"], True, 2),
        integer_network.quantize_conv(hs["ConvTranspose_1"]["kernel"],
                                      hs["ConvTranspose_1"]["bias"], True, 2),
        integer_network.quantize_conv(hs["Conv_0"]["conv"]["kernel"],
                                      hs["Conv_0"]["conv"]["bias"], True),
    ]
    arrays.update(integer_network.pack(layers, "h_s/"))
    return arrays

  def __init__(self, model, params, arrays: dict[str, np.ndarray]):
    self.model, self.params = model, params
    self.z_coder = FactorizedCoder(arrays, "z")
    self.y_coder = GaussianCoder(arrays, "y")
    self.thresholds = arrays["y/thresholds"]
    self.medians_fixed = arrays["z/medians_fixed"]
    self.hyper_synthesis = integer_network.unpack(arrays, "h_s/")
    self._analysis = _run(model, _analyze_hyperprior)
    self._synthesis = _run(model, lambda m, y: m.synthesis(y))

  def latent_shapes(self, height: int, width: int) -> dict[str, tuple[int, ...]]:
    f = self.model.downsampling
    return {"z": (height // f, width // f, self.model.num_filters),
            "y": (height // (f // 4), width // (f // 4), self.model.num_latents)}

  def scale_indexes(self, q_z: np.ndarray) -> np.ndarray:
    """Table index of every element of y, from z^ = q_z + median, exactly."""
    z_fixed = q_z * float(1 << integer_network.FRACTION_BITS) + self.medians_fixed
    scales = integer_network.apply(self.hyper_synthesis, z_fixed)
    return np.searchsorted(self.thresholds, scales, side="left").astype(np.int32)

  def encode(self, x: jax.Array) -> list[tuple[list[bytes], dict]]:
    y, z = (np.asarray(v) for v in self._analysis(self.params, x))
    q_y = np.round(y).astype(np.int32)
    q_z = np.round(z - self.z_coder.medians).astype(np.int32)
    out = []
    for qy, qz in zip(q_y, q_z):
      indexes = self.scale_indexes(qz)
      streams = [self.z_coder.encode(qz), self.y_coder.encode(qy, indexes)]
      out.append((streams, {"z": qz, "y": qy}))
    return out

  def decode(self, streams: list[bytes], shapes: dict) -> tuple[np.ndarray, dict]:
    q_z = self.z_coder.decode(streams[0], shapes["z"])
    indexes = self.scale_indexes(q_z)
    if indexes.shape != shapes["y"]:
      raise ValueError(f"scale indexes {indexes.shape} do not match y {shapes['y']}")
    q_y = self.y_coder.decode(streams[1], indexes)
    x_hat = self._synthesis(self.params, q_y[None].astype(np.float32))
    return np.asarray(x_hat)[0], {"z": q_z, "y": q_y}


def _analyze_hyperprior(m, x):
  y = m.analysis(x)
  return y, m.hyper_analysis(jnp.abs(y))


CODECS = {
    "bls2017": FactorizedPriorCodec,
    "bmshj2018": ScaleHyperpriorCodec,
}
