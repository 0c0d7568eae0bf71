"""How each model turns images into range-coded streams and back: its
transforms, run as jitted Flax calls in row bands, composed with its latent
codecs (lic_jax.coding.latent_codecs), integer and bit-exact.

A model codec has three parts:
  freeze(model, params) -> arrays   the coding tables, built once and stored
  encode(images) -> [(streams, latents)]
  decode(streams, latent_shapes) -> (image, latents)

  bls2017       FactorizedLatentCodec y
  bmshj2018     HyperpriorLatentCodec (z, h_s -> scales),
                GaussianConditionalLatentCodec y, all at once
  mbt2018_mean  the same with h_s -> (scales, means)
  mbt2018       ContextLatentCodec y in WavefrontOrder(5) on mbt2018_mean's
  he2021        ContextLatentCodec y in CheckerboardOrder() on mbt2018_mean's
  ms2020        HyperpriorLatentCodec (z, both h_s as one network -> scale
                and mean features), ChannelSlicesLatentCodec y (10 slices)

CBANet's codecs extend bmshj2018's and mbt2018's (lic_jax.cbanet.codec).
"""

import jax
import jax.numpy as jnp
import numpy as np

from lic_jax import layers
from lic_jax.coding import integer_network
from lic_jax.coding.integer_network import Activation
from lic_jax.coding.latent_codecs import (SLICE_NETWORKS, ChannelSlicesLatentCodec,
                                          CheckerboardLatent, CheckerboardOrder, ContextLatent,
                                          ContextLatentCodec, FactorizedLatentCodec,
                                          GaussianConditionalLatentCodec, HyperpriorLatentCodec,
                                          WavefrontOrder, channel_slices, dequantize,
                                          integer_layers)
from lic_jax.coding.memory import Footprint, ProgramMemory, abstract
from lic_jax.models.ms2020 import SLICE_TRANSFORM_LAYERS
from lic_jax.models.transforms import (HYPER_SYNTHESIS_LAYERS, entropy_parameters_layers,
                                       entropy_widths)


def jit_method(model, method):
  """A jitted model.apply(params, x, method=method)."""
  return jax.jit(lambda params, x: model.apply({"params": params}, x, method=method))


class Banded:
  """A transform between images and latents (g_a or g_s), run in row bands
  when the image is large.

  Coding memory is dominated by the transforms' activations (~3.4 bytes per
  image pixel and filter), so an image of more than band_pixels() pixels is
  transformed in bands of whole latent rows, each with HALO latent rows of
  context on either side (its own rows then see everything the whole image
  would give them) and all of one shape (one compilation). The bands agree
  with the whole-image result to float rounding (tests/test_coding.py).
  """

  # Latent rows of context per side: the receptive field of four stride-2
  # 5x5 layers is 1 + 1/2 + 1/4 + 1/8 < 2 latent rows (g_s), and 30 pixels
  # (g_a).
  HALO = 2
  # Bytes of activations per pixel and filter (measured: 215 bytes per pixel
  # for N = 64 on XLA:CPU).
  BYTES_PER_PIXEL_AND_FILTER = 3.4
  # Activation memory one band may take; the bands are at least MIN_ROWS
  # latent rows, so that the halos cost at most 2 * HALO / MIN_ROWS.
  BAND_BYTES = 1 << 29
  MIN_ROWS = 16

  def __init__(self, model, params, method, factor: int, synthesis: bool,
               filters: int | None = None):
    """method(module, x) is the transform; factor image pixels per latent;
    synthesis: latents in, image out (else the other way round); filters:
    its width (default the model's N)."""
    self._run = jit_method(model, method)
    self.params, self.factor, self.synthesis = params, factor, synthesis
    self.bytes_per_pixel = self.BYTES_PER_PIXEL_AND_FILTER * (filters or model.num_filters)
    self._programs: dict[tuple[int, int], ProgramMemory] = {}

  def band_pixels(self) -> int:
    return int(self.BAND_BYTES // self.bytes_per_pixel)

  def band_rows(self, width: int) -> int:
    """Latent rows per band for a latent `width` wide."""
    return max(self.MIN_ROWS, self.band_pixels() // (width * self.factor ** 2))

  def memory(self, shape: tuple[int, ...]) -> Footprint:
    """What transforming a batch of `shape` (B, rows, cols, C) holds at its
    peak: the program's buffers on one band, and the whole output."""
    batch, rows, cols, channels = shape
    if (batch, channels) not in self._programs:
      self._programs[batch, channels] = ProgramMemory(
          self._run, lambda r, c: (self.params, abstract((batch, r, c, channels), np.float32)))
    program = self._programs[batch, channels]
    into = 1 if self.synthesis else self.factor  # input rows per latent row
    band = min(rows, (self.band_rows(cols // into) + 2 * self.HALO) * into)
    whole_output = program.output_bytes(band, cols) * rows // band
    return Footprint(programs=program.bytes(band, cols), host=whole_output)

  def __call__(self, x: np.ndarray) -> np.ndarray:
    """The transform of a batch x (B, rows, cols, C)."""
    f = self.factor
    into, out_of = (1, f) if self.synthesis else (f, 1)  # rows per latent row
    h, w = x.shape[1] // into, x.shape[2] // into
    rows = self.band_rows(w)
    span = rows + 2 * self.HALO
    if h <= span:  # writable (the codec clips the image in place)
      return np.array(self._run(self.params, x))
    out = None
    for r0 in range(0, h, rows):
      r1 = min(h, r0 + rows)
      start = min(max(0, r0 - self.HALO), h - span)
      band = np.asarray(self._run(self.params, x[:, start * into:(start + span) * into]))
      if out is None:
        out = np.empty((x.shape[0], h * out_of, *band.shape[2:]), band.dtype)
      out[:, r0 * out_of:r1 * out_of] = band[:, (r0 - start) * out_of:(r1 - start) * out_of]
    return out


def _banded_transforms(model, params, factor: int) -> tuple[Banded, Banded]:
  """(g_a, g_s) of a model whose latent y has `factor` image pixels per side."""
  return (Banded(model, params, lambda m, x: m.analysis(x), factor, synthesis=False),
          Banded(model, params, lambda m, y: m.synthesis(y), factor, synthesis=True))


def _elements(shapes: dict[str, tuple[int, ...]]) -> int:
  return sum(int(np.prod(shape)) for shape in shapes.values())


class _DecodeFootprint:
  """What a decode of latents of given shapes holds at its peak (see
  lic_jax.coding.memory): the synthesis on one band with the whole image,
  and the host arrays of the latents."""

  # Host bytes a decode holds per latent element.
  host_bytes_per_element: int

  def decode_footprint(self, shapes: dict) -> Footprint:
    return self.synthesis.memory((1, *shapes["y"])) + self._latent_footprint(shapes)

  def _latent_footprint(self, shapes: dict) -> Footprint:
    return Footprint(host=self.host_bytes_per_element * _elements(shapes))


class FactorizedPriorCodec(_DecodeFootprint):
  """bls2017: one stream, y coded with the per-channel bottleneck tables."""

  latents = ("y",)
  # The range decoder's indexes and symbols (int32), y^ in float64 and
  # float32, the band's copy for XLA.
  host_bytes_per_element = 24

  @staticmethod
  def freeze(model, params) -> dict[str, np.ndarray]:
    return FactorizedLatentCodec.freeze("y", model.num_latents, params["entropy_bottleneck"])

  def __init__(self, model, params, arrays: dict[str, np.ndarray]):
    self.model, self.params = model, params
    self.y = FactorizedLatentCodec(arrays, "y")
    self.analysis, self.synthesis = _banded_transforms(model, params, model.downsampling)

  def latent_shapes(self, height: int, width: int) -> dict[str, tuple[int, ...]]:
    f = self.model.downsampling
    return {"y": (height // f, width // f, self.model.num_latents)}

  def encode(self, x: jax.Array) -> list[tuple[list[bytes], dict]]:
    q = self.y.quantize(self.analysis(np.asarray(x)))
    return [([self.y.encode(qi)], {"y": qi}) for qi in q]

  def decode(self, streams: list[bytes], shapes: dict) -> tuple[np.ndarray, dict]:
    q = self.y.decode(streams[0], shapes["y"])
    return self.synthesis(self.y.dequantize(q)[None])[0], {"y": q}


class _HyperpriorCodec(_DecodeFootprint):
  """What the hyperprior codecs share: the hyperprior's latent codec (z, and
  the integer h_s giving y's parameters from z^) and y's Gaussian tables."""

  latents = ("z", "y")
  # Activations of the frozen h_s: (hidden layers, last layer).
  h_s_activations: tuple[Activation, Activation]
  # h_s outputs per latent channel: 1 (scales) or 2 (scales, then means).
  h_s_outputs: int
  # Host bytes per latent element: h_s's fixed-point output per output
  # channel, the scale indexes (int64, then int32), the range decoder's
  # indexes, symbols and offsets, y^ as float32 and the band's copy for XLA
  # (scales); the means' y^ in int64, float64 and float32 besides (means
  # and scales).
  host_bytes_per_element: int

  @staticmethod
  def hyper_analyze(m, y):
    """z of a latent batch."""
    raise NotImplementedError

  @staticmethod
  def hyper_synthesis_params(params):
    """h_s's layers by HYPER_SYNTHESIS_LAYERS."""
    return params["hyper_synthesis"]

  @classmethod
  def freeze(cls, model, params) -> dict[str, np.ndarray]:
    h_s = integer_layers(cls.hyper_synthesis_params(params), HYPER_SYNTHESIS_LAYERS,
                         *cls.h_s_activations, transpose_strides=(2, 2))
    return {**HyperpriorLatentCodec.freeze(model.num_filters, params, h_s),
            **GaussianConditionalLatentCodec.freeze("y")}

  def __init__(self, model, params, arrays: dict[str, np.ndarray]):
    self.model, self.params = model, params
    self.hyper = HyperpriorLatentCodec(arrays, model.num_latents, self.h_s_outputs)
    self.y = GaussianConditionalLatentCodec(arrays, "y")
    # y has a quarter of the model's downsampling (z, under h_a, the rest).
    self.analysis, self.synthesis = _banded_transforms(model, params,
                                                       model.downsampling // 4)
    self._hyper_analysis = jit_method(model, type(self).hyper_analyze)

  def latent_shapes(self, height: int, width: int) -> dict[str, tuple[int, ...]]:
    f = self.model.downsampling
    return {"z": (height // f, width // f, self.model.num_filters),
            "y": (height // (f // 4), width // (f // 4), self.model.num_latents)}

  # The level arguments (a CBANet's bitrate j and complexity K) reach these
  # three, which a model of one level runs the same at every call.

  def _analyze(self, x: jax.Array, **level) -> tuple[np.ndarray, np.ndarray]:
    """(y, q_z) of an image batch."""
    del level
    y = self.analysis(np.asarray(x))
    return y, self.hyper.z.quantize(np.asarray(self._hyper_analysis(self.params, y)))

  def _synthesize(self, y_hat: np.ndarray, **level) -> np.ndarray:
    """x^ of one image's decoded y^ (h, w, M)."""
    del level
    return self.synthesis(y_hat[None])[0]

  def hyper_parameters(self, q_z: np.ndarray, y_shape: tuple[int, ...], **level
                       ) -> np.ndarray:
    """h_s(z^) in fixed point, exactly (checked against y's shape)."""
    del level
    return self.hyper.parameters(q_z, y_shape)


class ScaleHyperpriorCodec(_HyperpriorCodec):
  """bmshj2018: q = round(y) coded with the table of the scale h_s(z^)."""

  h_s_activations = (Activation.RELU, Activation.RELU)
  h_s_outputs = 1
  host_bytes_per_element = 40

  @staticmethod
  def hyper_analyze(m, y):
    return m.hyper_analysis(jnp.abs(y))

  def encode(self, x: jax.Array, **level) -> list[tuple[list[bytes], dict]]:
    y, q_z = self._analyze(x, **level)
    q_y = np.round(y).astype(np.int32)
    out = []
    for qy, qz in zip(q_y, q_z):
      indexes = self.y.scale_indexes(self.hyper_parameters(qz, qy.shape, **level))
      streams = [self.hyper.z.encode(qz), self.y.encode(qy, indexes)]
      out.append((streams, {"z": qz, "y": qy}))
    return out

  def decode(self, streams: list[bytes], shapes: dict, **level) -> tuple[np.ndarray, dict]:
    q_z = self.hyper.z.decode(streams[0], shapes["z"])
    q_y = self.y.decode(streams[1], self.y.scale_indexes(
        self.hyper_parameters(q_z, shapes["y"], **level)))
    return self._synthesize(q_y.astype(np.float32), **level), {"z": q_z, "y": q_y}


class MeanScaleHyperpriorCodec(_HyperpriorCodec):
  """mbt2018_mean: q = round(y - mu) with the Gaussian table of sigma,
  (sigma, mu) = h_s(z^) in fixed point. The decoded latent is q + mu."""

  h_s_activations = (Activation.LEAKY_RELU, Activation.NONE)
  h_s_outputs = 2
  host_bytes_per_element = 72

  @staticmethod
  def hyper_analyze(m, y):
    return m.hyper_analysis(y)

  def _y_parameters(self, q_z: np.ndarray, y_shape: tuple[int, ...]):
    """(scale indexes, fixed-point means) of y."""
    hyper = self.hyper_parameters(q_z, y_shape)
    m = self.model.num_latents
    return self.y.scale_indexes(hyper[..., :m]), hyper[..., m:]

  def encode(self, x: jax.Array) -> list[tuple[list[bytes], dict]]:
    y, q_z = self._analyze(x)
    out = []
    for yi, qz in zip(y, q_z):
      indexes, means = self._y_parameters(qz, yi.shape)
      qy = np.round(yi - integer_network.from_fixed(means)).astype(np.int32)
      streams = [self.hyper.z.encode(qz), self.y.encode(qy, indexes)]
      out.append((streams, {"z": qz, "y": qy, "y_hat": dequantize(qy, means)}))
    return out

  def decode(self, streams: list[bytes], shapes: dict) -> tuple[np.ndarray, dict]:
    q_z = self.hyper.z.decode(streams[0], shapes["z"])
    indexes, means = self._y_parameters(q_z, shapes["y"])
    q_y = self.y.decode(streams[1], indexes)
    y_hat = dequantize(q_y, means)
    return self._synthesize(y_hat), {"z": q_z, "y": q_y, "y_hat": y_hat}


class _SteppedCodec(MeanScaleHyperpriorCodec):
  """A mean-scale hyperprior whose y is coded in steps by a latent codec,
  self.y_steps (encode(y, hyper, *args) -> (stream, q, y^); decode(stream,
  hyper, *args) -> (q, y^)), given h_s(z^) in fixed point."""

  y_steps: ContextLatentCodec | ChannelSlicesLatentCodec

  def y_steps_args(self, **level) -> tuple:
    """The further arguments of y_steps' encode and decode."""
    del level
    return ()

  def encode(self, x: jax.Array, **level) -> list[tuple[list[bytes], dict]]:
    y, q_z = self._analyze(x, **level)
    out = []
    for yi, qz in zip(y, q_z):
      stream, q_y, y_hat = self.y_steps.encode(
          yi, self.hyper_parameters(qz, yi.shape, **level), *self.y_steps_args(**level))
      out.append(([self.hyper.z.encode(qz), stream], {"z": qz, "y": q_y, "y_hat": y_hat}))
    return out

  def decode(self, streams: list[bytes], shapes: dict, **level) -> tuple[np.ndarray, dict]:
    q_z = self.hyper.z.decode(streams[0], shapes["z"])
    q_y, y_hat = self.y_steps.decode(streams[1], self.hyper_parameters(q_z, shapes["y"], **level),
                                     *self.y_steps_args(**level))
    return self._synthesize(y_hat, **level), {"z": q_z, "y": q_y, "y_hat": y_hat}


class JointAutoregressiveCodec(_SteppedCodec):
  """mbt2018: like mbt2018_mean, but the Gaussian parameters of each latent
  also depend on its already-coded neighbours (masked 5x5 context): y is
  coded by a ContextLatentCodec in the wavefront order."""

  # Besides mbt2018_mean's: the context grid (int32), y^ in int64 and its
  # symbols, y^ in float64 and float32 at the end.
  host_bytes_per_element = 100
  # The float half of y's path, whose mask (mask_type) the integer context
  # applies, and the order that codes it, of the model's kernel size:
  # another context model changes these two.
  context_latent = ContextLatent
  coding_order = WavefrontOrder

  @classmethod
  def context_mask(cls, kernel_size: int) -> np.ndarray:
    """The context's visible taps: the float half's mask, so that the two
    halves cannot disagree."""
    return layers.context_mask(kernel_size, cls.context_latent.mask_type)

  @classmethod
  def freeze(cls, model, params) -> dict[str, np.ndarray]:
    arrays = super().freeze(model, params)
    arrays.update(ContextLatentCodec.freeze(
        params["context_prediction"], cls.context_mask(model.context_kernel_size),
        params["entropy_parameters"],
        entropy_parameters_layers(len(entropy_widths(model.num_latents,
                                                     model.entropy_hidden)) + 1)))
    return arrays

  def __init__(self, model, params, arrays: dict[str, np.ndarray]):
    super().__init__(model, params, arrays)
    k = model.context_kernel_size
    self.context = ContextLatentCodec(arrays, self.context_mask(k), self.coding_order(k),
                                      self.y, model.num_latents)
    self.y_steps = self.context

  def _latent_footprint(self, shapes: dict) -> Footprint:
    rows, cols, _ = shapes["y"]
    return (super()._latent_footprint(shapes)
            + Footprint(host=self.context.accumulator_bytes(rows, cols)))

  def context_transform(self, **level):
    """An exact map on the context model's output before e (None: none)."""
    del level

  def y_steps_args(self, **level) -> tuple:
    return (self.context_transform(**level),)


class CheckerboardCodec(JointAutoregressiveCodec):
  """he2021: mbt2018's codec with the checkerboard context, y coded in two
  steps (CheckerboardOrder: the anchors, then the rest)."""

  context_latent = CheckerboardLatent

  @staticmethod
  def coding_order(kernel_size: int) -> CheckerboardOrder:
    del kernel_size  # two steps whatever the kernel: its taps are all of one colour
    return CheckerboardOrder()


class ChannelwiseCodec(_SteppedCodec):
  """ms2020: z and the hyper features as mbt2018_mean's z and parameters
  (the two h_s, of the scales' and the means' features, frozen as one
  network), y coded by a ChannelSlicesLatentCodec, one slice per step."""

  h_s_activations = (Activation.RELU, Activation.RELU)
  # Besides mbt2018_mean's: each slice's network inputs (the hyper features
  # and up to K slices, int32) and y^ in int64 per slice, and the whole y^
  # and q gathered at the end.
  host_bytes_per_element = 120

  @staticmethod
  def hyper_synthesis_params(params):
    """Both h_s as one network of the same layer names: the first layer's
    outputs side by side (scales', then means'), each later layer block-
    diagonal (a branch sees only its own channels). Each output channel is
    quantized alone, so this is exactly the two integer networks side by
    side."""
    branches = [params["hyper_synthesis"][b] for b in ("scales", "means")]
    merged = {}
    for i, name in enumerate(HYPER_SYNTHESIS_LAYERS):
      layers = [b[name]["conv"] if "conv" in b[name] else b[name] for b in branches]
      kernels = [np.asarray(layer["kernel"]) for layer in layers]
      if i == 0:
        kernel = np.concatenate(kernels, axis=-1)
      else:
        k = kernels[0].shape[0]
        kernel = np.zeros((k, k, sum(w.shape[2] for w in kernels),
                           sum(w.shape[3] for w in kernels)), np.float32)
        rows = cols = 0
        for w in kernels:
          kernel[:, :, rows:rows + w.shape[2], cols:cols + w.shape[3]] = w
          rows, cols = rows + w.shape[2], cols + w.shape[3]
      merged[name] = {"kernel": kernel,
                      "bias": np.concatenate([np.asarray(layer["bias"]) for layer in layers])}
    return merged

  @classmethod
  def freeze(cls, model, params) -> dict[str, np.ndarray]:
    arrays = super().freeze(model, params)
    arrays.update(ChannelSlicesLatentCodec.freeze({
        kind: [integer_layers(params[f"{kind}_transforms_{i}"], SLICE_TRANSFORM_LAYERS,
                              Activation.RELU, Activation.NONE)
               for i in range(model.num_slices)] for kind in SLICE_NETWORKS}))
    return arrays

  def _latent_footprint(self, shapes: dict) -> Footprint:
    rows, cols, _ = shapes["y"]
    return (super()._latent_footprint(shapes)
            + Footprint(programs=self.y_steps.program_bytes(rows, cols),
                        fixed=self.y_steps.compiled_bytes()))

  def __init__(self, model, params, arrays: dict[str, np.ndarray]):
    super().__init__(model, params, arrays)
    self.y_steps = ChannelSlicesLatentCodec(
        arrays, channel_slices(model.num_latents, model.num_slices), model.max_support_slices,
        self.y)


CODECS = {
    "bls2017": FactorizedPriorCodec,
    "bmshj2018": ScaleHyperpriorCodec,
    "mbt2018_mean": MeanScaleHyperpriorCodec,
    "mbt2018": JointAutoregressiveCodec,
    "he2021": CheckerboardCodec,
    "ms2020": ChannelwiseCodec,
}
