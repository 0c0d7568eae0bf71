"""How each model turns images into range-coded streams and back.

A model codec has three parts:
  freeze(model, params) -> arrays   the coding tables, built once and stored
  encode(images) -> [(streams, latents)]
  decode(streams, latent_shapes) -> (image, latents)
The transforms run as jitted Flax calls; everything that decides *how* a
symbol is coded (tables, scale indexes) is integer and bit-exact.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from lic_jax.coding import integer_network, range_coder, tables
from lic_jax.coding.integer_network import Activation
from lic_jax.coding.memory import Footprint, ProgramMemory, abstract
from lic_jax.coding.wavefront import wavefront
from lic_jax.entropy_models import GaussianConditional
from lic_jax.layers import causal_offsets, raster_mask


# The layout of the frozen tables; stored with them, so that tables of an
# older layout are rebuilt from the parameters rather than misread.
# 2: integer networks exact in float32 (integer_network), FRACTION_BITS 12.
TABLES_FORMAT = 2


def _run(model, method):
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
    self._run = _run(model, method)
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


def _channel_indexes(shape: tuple[int, ...]) -> np.ndarray:
  return np.broadcast_to(np.arange(shape[-1], dtype=np.int32), shape)


class FactorizedCoder:
  """Codes q = round(y - median) per channel with the bottleneck's tables."""

  def __init__(self, arrays: dict[str, np.ndarray], prefix: str):
    self.lookup = range_coder.Lookup.of(arrays[f"{prefix}/lookup"])
    self.offsets = arrays[f"{prefix}/offsets"]
    self.medians = arrays[f"{prefix}/medians"]
    self.name = f"{prefix} stream"

  def encode(self, q: np.ndarray) -> bytes:
    return range_coder.encode(q - self.offsets, _channel_indexes(q.shape), self.lookup)

  def decode(self, data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    indexes = _channel_indexes(shape)
    return range_coder.decode(data, indexes, self.lookup, self.name) + self.offsets


class GaussianCoder:
  """Codes q = round(y) with the table of the scale selected by each index."""

  def __init__(self, arrays: dict[str, np.ndarray], prefix: str):
    self.lookup = range_coder.Lookup.of(arrays[f"{prefix}/lookup"])
    self.offsets = arrays[f"{prefix}/offsets"]
    self.name = f"{prefix} stream"

  def encode(self, q: np.ndarray, indexes: np.ndarray) -> bytes:
    return range_coder.encode(q - self.offsets[indexes], indexes, self.lookup)

  def decode(self, data: bytes, indexes: np.ndarray) -> np.ndarray:
    return range_coder.decode(data, indexes, self.lookup, self.name) + self.offsets[indexes]


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
    table = tables.factorized_table(model.num_latents, params["entropy_bottleneck"])
    return {f"y/{k}": v for k, v in table.items()}

  def __init__(self, model, params, arrays: dict[str, np.ndarray]):
    self.model, self.params = model, params
    self.coder = FactorizedCoder(arrays, "y")
    self.analysis, self.synthesis = _banded_transforms(model, params, model.downsampling)

  def latent_shapes(self, height: int, width: int) -> dict[str, tuple[int, ...]]:
    f = self.model.downsampling
    return {"y": (height // f, width // f, self.model.num_latents)}

  def encode(self, x: jax.Array) -> list[tuple[list[bytes], dict]]:
    y = self.analysis(np.asarray(x))
    q = np.round(y - self.coder.medians).astype(np.int32)
    return [([self.coder.encode(qi)], {"y": qi}) for qi in q]

  def decode(self, streams: list[bytes], shapes: dict) -> tuple[np.ndarray, dict]:
    q = self.coder.decode(streams[0], shapes["y"])
    y_hat = (q + self.coder.medians).astype(np.float32)
    return self.synthesis(y_hat[None])[0], {"y": q}


class _HyperpriorCodec(_DecodeFootprint):
  """What the hyperprior codecs share: z with the bottleneck tables, y with
  the Gaussian tables, the table of each element of y chosen by the integer
  h_s from z^ (exactly, see integer_network)."""

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

  @classmethod
  def freeze(cls, model, params) -> dict[str, np.ndarray]:
    arrays = _hyperprior_tables(model, params)
    arrays.update(integer_network.pack(
        _integer_hyper_synthesis(params["hyper_synthesis"], *cls.h_s_activations), "h_s/"))
    return arrays

  def __init__(self, model, params, arrays: dict[str, np.ndarray]):
    self.model, self.params = model, params
    self.z_coder = FactorizedCoder(arrays, "z")
    self.y_coder = GaussianCoder(arrays, "y")
    self.thresholds = arrays["y/thresholds"]
    self.medians_fixed = arrays["z/medians_fixed"]
    self.hyper_synthesis = integer_network.Network(integer_network.unpack(arrays, "h_s/"))
    # y has a quarter of the model's downsampling (z, under h_a, the rest).
    self.analysis, self.synthesis = _banded_transforms(model, params,
                                                       model.downsampling // 4)
    self._hyper_analysis = _run(model, type(self).hyper_analyze)

  def latent_shapes(self, height: int, width: int) -> dict[str, tuple[int, ...]]:
    f = self.model.downsampling
    return {"z": (height // f, width // f, self.model.num_filters),
            "y": (height // (f // 4), width // (f // 4), self.model.num_latents)}

  def hyper_parameters(self, q_z: np.ndarray) -> np.ndarray:
    """h_s(z^) in fixed point, exactly, from z^ = q_z + median."""
    return self.hyper_synthesis(_clip_fixed(_fixed_sum(q_z, self.medians_fixed)))

  def _hyper_for(self, q_z: np.ndarray, expected: tuple[int, ...]) -> np.ndarray:
    """hyper_parameters(q_z), checked against the shape of y."""
    hyper = self.hyper_parameters(q_z)
    channels = self.h_s_outputs * self.model.num_latents
    if hyper.shape[:2] != tuple(expected[:2]) or hyper.shape[2] != channels:
      raise ValueError(f"hyper parameters {hyper.shape} do not match y {tuple(expected)}")
    return hyper

  def scale_indexes(self, scales_fixed: np.ndarray) -> np.ndarray:
    """Table index of each fixed-point scale (nearest table scale in log domain)."""
    return np.searchsorted(self.thresholds, scales_fixed, side="left").astype(np.int32)

  def _analyze(self, x: jax.Array) -> tuple[np.ndarray, np.ndarray]:
    """(y, q_z) of an image batch."""
    y = self.analysis(np.asarray(x))
    z = np.asarray(self._hyper_analysis(self.params, y))
    return y, np.round(z - self.z_coder.medians).astype(np.int32)


class ScaleHyperpriorCodec(_HyperpriorCodec):
  """bmshj2018: q = round(y) coded with the table of the scale h_s(z^)."""

  h_s_activations = (Activation.RELU, Activation.RELU)
  h_s_outputs = 1
  host_bytes_per_element = 40

  @staticmethod
  def hyper_analyze(m, y):
    return m.hyper_analysis(jnp.abs(y))

  def _indexes(self, q_z: np.ndarray, expected: tuple[int, ...]) -> np.ndarray:
    return self.scale_indexes(self._hyper_for(q_z, expected))

  def encode(self, x: jax.Array) -> list[tuple[list[bytes], dict]]:
    y, q_z = self._analyze(x)
    q_y = np.round(y).astype(np.int32)
    out = []
    for qy, qz in zip(q_y, q_z):
      indexes = self._indexes(qz, qy.shape)
      streams = [self.z_coder.encode(qz), self.y_coder.encode(qy, indexes)]
      out.append((streams, {"z": qz, "y": qy}))
    return out

  def decode(self, streams: list[bytes], shapes: dict) -> tuple[np.ndarray, dict]:
    q_z = self.z_coder.decode(streams[0], shapes["z"])
    q_y = self.y_coder.decode(streams[1], self._indexes(q_z, shapes["y"]))
    return self.synthesis(q_y[None].astype(np.float32))[0], {"z": q_z, "y": q_y}


def _hyperprior_tables(model, params) -> dict[str, np.ndarray]:
  """Bottleneck tables for z, Gaussian tables and scale thresholds for y."""
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
  return arrays


def _integer_hyper_synthesis(hs, hidden: Activation, last: Activation):
  """h_s (deconv, deconv, conv3x3) frozen into fixed point."""
  return [
      integer_network.quantize_conv(hs["ConvTranspose_0"]["kernel"],
                                    hs["ConvTranspose_0"]["bias"], hidden, 2),
      integer_network.quantize_conv(hs["ConvTranspose_1"]["kernel"],
                                    hs["ConvTranspose_1"]["bias"], hidden, 2),
      integer_network.quantize_conv(hs["Conv_0"]["conv"]["kernel"],
                                    hs["Conv_0"]["conv"]["bias"], last),
  ]


class MeanScaleHyperpriorCodec(_HyperpriorCodec):
  """mbt2018_mean: q = round(y - mu) with the Gaussian table of sigma,
  (sigma, mu) = h_s(z^) in fixed point. The decoded latent is q + mu."""

  h_s_activations = (Activation.LEAKY_RELU, Activation.NONE)
  h_s_outputs = 2
  host_bytes_per_element = 72

  @staticmethod
  def hyper_analyze(m, y):
    return m.hyper_analysis(y)

  def _y_parameters(self, q_z: np.ndarray, expected: tuple[int, ...]):
    """(scale indexes, fixed-point means) of y."""
    hyper = self._hyper_for(q_z, expected)
    m = self.model.num_latents
    return self.scale_indexes(hyper[..., :m]), hyper[..., m:]

  def encode(self, x: jax.Array) -> list[tuple[list[bytes], dict]]:
    y, q_z = self._analyze(x)
    out = []
    for yi, qz in zip(y, q_z):
      indexes, means = self._y_parameters(qz, yi.shape)
      qy = np.round(yi - integer_network.from_fixed(means)).astype(np.int32)
      streams = [self.z_coder.encode(qz), self.y_coder.encode(qy, indexes)]
      out.append((streams, {"z": qz, "y": qy, "y_hat": _dequantize(qy, means)}))
    return out

  def decode(self, streams: list[bytes], shapes: dict) -> tuple[np.ndarray, dict]:
    q_z = self.z_coder.decode(streams[0], shapes["z"])
    indexes, means = self._y_parameters(q_z, shapes["y"])
    q_y = self.y_coder.decode(streams[1], indexes)
    y_hat = _dequantize(q_y, means)
    return self.synthesis(y_hat[None])[0], {"z": q_z, "y": q_y, "y_hat": y_hat}


def _fixed_sum(q: np.ndarray, offset_fixed: np.ndarray) -> np.ndarray:
  """q + offset in fixed point, e.g. y^ = q + mu (int64: q is whatever the
  stream holds)."""
  return (q.astype(np.int64) << integer_network.FRACTION_BITS) + offset_fixed


def _clip_fixed(x: np.ndarray) -> np.ndarray:
  """A fixed-point network input as int32, clamped as every layer clamps its
  input (so that the int64 sums of _fixed_sum fit)."""
  limit = integer_network.ACTIVATION_LIMIT
  return np.clip(x, -limit, limit).astype(np.int32)


def _dequantize(q: np.ndarray, means_fixed: np.ndarray) -> np.ndarray:
  """y^ = q + mu as float32 (mu has FRACTION_BITS fraction bits)."""
  return integer_network.from_fixed(_fixed_sum(q, means_fixed))


class JointAutoregressiveCodec(MeanScaleHyperpriorCodec):
  """mbt2018: like mbt2018_mean, but the Gaussian parameters of each latent
  also depend on its already-coded neighbours (masked 5x5 context), so y is
  coded in the wavefront order of lic_jax.coding.wavefront. Each step
  computes the parameters of all its positions in one batch of exact
  fixed-point matrix products and range-codes them in one call; the encoder
  runs the same steps, so both sides see identical parameters."""

  # Besides mbt2018_mean's: the wavefront's context grid (int32), y^ in
  # int64 and its symbols, y^ in float64 and float32 at the end.
  host_bytes_per_element = 100

  @classmethod
  def freeze(cls, model, params) -> dict[str, np.ndarray]:
    arrays = super().freeze(model, params)
    ctx = params["context_prediction"]
    k = ctx["kernel"].shape[0]
    masked = np.asarray(ctx["kernel"]) * raster_mask(k)[:, :, None, None]
    arrays.update(integer_network.pack(
        [integer_network.quantize_conv(masked, ctx["bias"], Activation.NONE)], "context/"))
    ep = params["entropy_parameters"]
    names = sorted(ep, key=lambda n: int(n.split("_")[1]))
    layers = [integer_network.quantize_conv(
        ep[n]["conv"]["kernel"], ep[n]["conv"]["bias"],
        Activation.NONE if n == names[-1] else Activation.LEAKY_RELU) for n in names]
    arrays.update(integer_network.pack(layers, "entropy_parameters/"))
    return arrays

  def __init__(self, model, params, arrays: dict[str, np.ndarray]):
    super().__init__(model, params, arrays)
    (context,) = integer_network.unpack(arrays, "context/")
    first, *rest = integer_network.unpack(arrays, "entropy_parameters/")
    k = context.kernel.shape[0]
    self.kernel_size = k
    self.offsets = causal_offsets(k)
    m = model.num_latents
    # The context layer keeps only its visible taps, flattened like the
    # gathered patches; the first entropy-parameter layer is split into its
    # hyper half (run once for all positions) and its context half (per step).
    visible = context.kernel[self.offsets[:, 0] + k // 2, self.offsets[:, 1] + k // 2]
    context = dataclasses.replace(context, kernel=visible.reshape(1, 1, -1, 2 * m))
    self._first_hyper = jnp.asarray(first.matrix[:2 * m])
    first = dataclasses.replace(first, kernel=first.kernel[:, :, 2 * m:])
    layers = [context, first, *rest]
    self._step_layers = [integer_network.to_device(layer) for layer in layers]
    self._activations = tuple(layer.activation for layer in layers)

  def _latent_footprint(self, shapes: dict) -> Footprint:
    # The hyper half of the first entropy-parameter layer for every position:
    # its high and low int32 accumulators, on the device and in numpy.
    rows, cols, _ = shapes["y"]
    accumulators = 4 * 4 * rows * cols * int(self._first_hyper.shape[1])
    return super()._latent_footprint(shapes) + Footprint(host=accumulators)

  def _run_wavefront(self, hyper: np.ndarray, code_step, context_shrink=None):
    """Visits the wavefront; code_step(rows, cols, indexes, means) -> q for
    those positions. Returns q (h, w, M) and the fixed-point y^ (int64).
    context_shrink: None, or the (activations, layers, table) of a BAL on
    the context before e (CBANet-AR: see ContextShrink)."""
    h, w, _ = hyper.shape
    m, pad = self.model.num_latents, self.kernel_size // 2
    # The hyper half of the first entropy-parameter layer, for all positions
    # at once (exact, like every product here); the context half per step.
    hyper_acc = _exact_matmul(hyper.reshape(h * w, 2 * m), self._first_hyper)
    hyper_high, hyper_low = np.asarray(hyper_acc.high), np.asarray(hyper_acc.low)
    # The context model's input, clamped like every fixed-point input.
    grid = np.zeros((h + 2 * pad, w + 2 * pad, m), np.int32)
    y_fixed = np.zeros((h, w, m), np.int64)
    q = np.zeros((h, w, m), np.int32)
    di, dj = self.offsets[:, 0], self.offsets[:, 1]
    for rows, cols in wavefront(h, w, self.kernel_size).steps:
      n = len(rows)
      fill = np.minimum(np.arange(_padded_size(n)), n - 1)
      r, c = rows[fill], cols[fill]
      patches = grid[r[:, None] + di + pad, c[:, None] + dj + pad].reshape(len(fill), -1)
      at = r * w + c
      parameters = np.asarray(_entropy_parameters(
          self._activations, self._step_layers, patches,
          integer_network.Accumulator(hyper_high[at], hyper_low[at]), context_shrink))[:n]
      means = parameters[:, m:]
      q_step = code_step(rows, cols, self.scale_indexes(parameters[:, :m]), means)
      q[rows, cols] = q_step
      y_fixed[rows, cols] = _fixed_sum(q_step, means)
      grid[rows + pad, cols + pad] = _clip_fixed(y_fixed[rows, cols])
    return q, y_fixed

  def _encode_y(self, y: np.ndarray, q_z: np.ndarray, hyper: np.ndarray,
                context_shrink=None) -> tuple[list[bytes], dict]:
    """The streams and coded latents of one image's y (h, w, M) and q_z,
    the wavefront fed with `hyper` (h_s(z^) in fixed point)."""
    symbols, indexes = [], []

    def code_step(rows, cols, idx, means):
      q_step = np.round(y[rows, cols] - integer_network.from_fixed(means)).astype(np.int32)
      symbols.append(q_step.ravel())
      indexes.append(idx.ravel())
      return q_step

    q_y, y_fixed = self._run_wavefront(hyper, code_step, context_shrink)
    y_stream = self.y_coder.encode(np.concatenate(symbols), np.concatenate(indexes))
    y_hat = integer_network.from_fixed(y_fixed)
    return [self.z_coder.encode(q_z), y_stream], {"z": q_z, "y": q_y, "y_hat": y_hat}

  def _decode_y(self, stream: bytes, hyper: np.ndarray,
                context_shrink=None) -> tuple[np.ndarray, np.ndarray]:
    """(q_y, y^ as float32) of a y stream, the wavefront fed with `hyper`."""
    decoder = range_coder.Decoder(stream, self.y_coder.lookup, self.y_coder.name)
    offsets = self.y_coder.offsets

    def code_step(rows, cols, idx, means):
      del rows, cols, means
      return decoder.decode(idx) + offsets[idx]

    q_y, y_fixed = self._run_wavefront(hyper, code_step, context_shrink)
    decoder.finish()
    return q_y, integer_network.from_fixed(y_fixed)

  def encode(self, x: jax.Array) -> list[tuple[list[bytes], dict]]:
    y, q_z = self._analyze(x)
    return [self._encode_y(yi, qz, self._hyper_for(qz, yi.shape)) for yi, qz in zip(y, q_z)]

  def decode(self, streams: list[bytes], shapes: dict) -> tuple[np.ndarray, dict]:
    q_z = self.z_coder.decode(streams[0], shapes["z"])
    q_y, y_hat = self._decode_y(streams[1], self._hyper_for(q_z, shapes["y"]))
    return self.synthesis(y_hat[None])[0], {"z": q_z, "y": q_y, "y_hat": y_hat}


def _padded_size(n: int) -> int:
  """The smallest 2^k or 3 * 2^k >= n. A step is padded to it (repeating its
  last position): a few compiled shapes serve every step, and less than a
  third of a padded step is waste. With powers of two alone up to half is:
  a portrait Kodak image then computes 47% more positions than it codes,
  13% with this series."""
  size = 1 << max(0, (n - 1).bit_length())
  return size * 3 // 4 if size >= 4 and size * 3 // 4 >= n else size


_exact_matmul = jax.jit(integer_network.exact_matmul)


@dataclasses.dataclass(frozen=True)
class ContextShrink:
  """A BAL on the context before e (CBANet-AR's BAL_phi), for the wavefront
  step: its pointwise CNN B_phi as device layers, and the shrink table."""

  activations: tuple[Activation, ...]
  layers: list[integer_network.DeviceLayer]
  table: jax.Array


jax.tree_util.register_dataclass(ContextShrink, data_fields=["layers", "table"],
                                 meta_fields=["activations"])


@functools.partial(jax.jit, static_argnums=0)
def _entropy_parameters(activations: tuple[Activation, ...],
                        layers: list[integer_network.DeviceLayer], patches: jax.Array,
                        hyper_acc: integer_network.Accumulator,
                        context_shrink: ContextShrink | None) -> jax.Array:
  """Fixed-point (scales, means) (P, 2M) of one wavefront step's positions from
  their causal patches (P, k*k//2 * M) and the hyper half of the first
  entropy-parameter layer (P, C); layers: context, first (context half), rest;
  the context shrunk by context_shrink's BAL where there is one."""
  context, first, *rest = layers
  x = integer_network.dense(context, activations[0], patches)
  if context_shrink is not None:
    b = x
    for layer, activation in zip(context_shrink.layers, context_shrink.activations):
      b = integer_network.dense(layer, activation, b)
    x = exact_shrink(x, b, context_shrink.table)
  x = integer_network.finish(
      hyper_acc + integer_network.exact_matmul(x, first.matrix, first.bias),
      first.shift, activations[1])
  for layer, activation in zip(rest, activations[2:]):
    x = integer_network.dense(layer, activation, x)
  return x


# The exact 1 - sigmoid(b) of a BAL on the scales (Eq. 8): a table of
# round((1 - sigmoid(b)) 2^SHRINK_BITS) at every b = i / 2^SIGMOID_STEP_BITS
# in [-SIGMOID_LIMIT, SIGMOID_LIMIT] (beyond, within 2^-23 of 0 or 1), built
# at freeze and stored with the tables, so that a decoder only looks it up.
SIGMOID_LIMIT = 16
SIGMOID_STEP_BITS = 8
SHRINK_BITS = 16


def shrink_table() -> np.ndarray:
  b = np.arange(-SIGMOID_LIMIT << SIGMOID_STEP_BITS, (SIGMOID_LIMIT << SIGMOID_STEP_BITS) + 1)
  b = b / 2.0**SIGMOID_STEP_BITS
  return np.round(2.0**SHRINK_BITS / (1.0 + np.exp(b))).astype(np.int64)  # 1 - sigmoid(b)


def exact_shrink(values_fixed: jax.Array, b_fixed: jax.Array, table: jax.Array) -> jax.Array:
  """floor(values * (1 - sigmoid(b))) in fixed point, integers only: b rounded
  to the table's step, the product exact for any int32 values in int32
  arithmetic (on the host or in a jitted wavefront step alike): with
  v = 2^16 hi + lo (0 <= lo < 2^16) and t <= 2^SHRINK_BITS = 2^16,
  floor(v t / 2^16) = hi t + floor(lo t / 2^16), both terms within 32 bits."""
  drop = integer_network.FRACTION_BITS - SIGMOID_STEP_BITS
  limit = SIGMOID_LIMIT << integer_network.FRACTION_BITS
  index = (jnp.clip(b_fixed, -limit, limit) + limit + (1 << (drop - 1))) >> drop
  t = jnp.asarray(table, jnp.int32)[index]
  v = jnp.asarray(values_fixed, jnp.int32)
  low = ((v & 0xFFFF).astype(jnp.uint32) * t.astype(jnp.uint32)) >> SHRINK_BITS
  return (v >> SHRINK_BITS) * t + low.astype(jnp.int32)


def _integer_bitrate_cnn(b) -> list[integer_network.IntegerConv]:
  """B of a BAL (Fig. 4 of CBANet) frozen into fixed point. Its depthwise
  layers (5x5; 1x1 in B_phi) become ordinary convolutions with a diagonal
  kernel (the same sums, exactly; P times the multiplies, at the latents'
  resolution)."""

  def depthwise(conv) -> integer_network.IntegerConv:
    kernel = np.asarray(conv["kernel"], np.float32)  # (5, 5, 1, P)
    width = kernel.shape[-1]
    dense = np.zeros((*kernel.shape[:2], width, width), np.float32)
    dense[:, :, np.arange(width), np.arange(width)] = kernel[:, :, 0, :]
    return integer_network.quantize_conv(dense, conv["bias"], Activation.NONE)

  return [integer_network.quantize_conv(b["Conv_0"]["kernel"], b["Conv_0"]["bias"],
                                        Activation.LEAKY_RELU),
          depthwise(b["Conv_1"]), depthwise(b["Conv_2"]),
          integer_network.quantize_conv(b["Conv_3"]["kernel"], b["Conv_3"]["bias"],
                                        Activation.NONE)]


def _bal_networks(model, params, layer: str) -> dict[str, np.ndarray]:
  """The integer CNN of BAL `layer` of every BAM, packed as '{layer}_{j}/'."""
  arrays = {}
  for j in range(model.num_rates - 1):
    cnn = params[f"bams_{j}"][layer]["BitrateCNN_0"]
    arrays.update(integer_network.pack(_integer_bitrate_cnn(cnn), f"{layer}_{j}/"))
  return arrays


class _CBANetLevels:
  """What the CBANet codecs share: y_j and z of an image at bitrate j (float,
  encoder side), and the decoder's IBAL and CAM at (j, K), all compiled per
  level on first use; the shrink table of the integer BALs."""

  # Host bytes per element of a map a coding BAL shrinks, at a bitrate other
  # than the base: its integer CNN's input and output (int32), and
  # exact_shrink's temporaries (eager jnp: each step a whole map).
  bal_bytes_per_element = 68
  # The BALs that decide how symbols are coded: integer, in the tables;
  # and the channels of the map each shrinks, per latent channel.
  coding_bals: tuple[str, ...]
  bal_channels: int

  @classmethod
  def freeze(cls, model, params) -> dict[str, np.ndarray]:
    arrays = super().freeze(model, params)
    arrays["bal/shrink"] = shrink_table()
    for layer in cls.coding_bals:
      arrays.update(_bal_networks(model, params, layer))
    return arrays

  def _setup_levels(self, model, params, arrays: dict[str, np.ndarray]):
    self.shrink = arrays["bal/shrink"]
    # {BAL: its integer CNN per bitrate j < base}
    self.bal_layers = {layer: [integer_network.unpack(arrays, f"{layer}_{j}/")
                               for j in range(model.num_rates - 1)]
                       for layer in self.coding_bals}
    # Per bitrate j: (params, y_b) -> (y_j, z) and (params, y~_j) -> y^_b;
    # per K: the CAM's first K branches.
    rates = range(model.num_rates)
    self._hyper_analyses = [_run(model, lambda m, y, j=j: m.analyze_hyper(y, j)) for j in rates]
    self._inverses = [_run(model, lambda m, y, j=j: m.inverse_bitrate(y, j)) for j in rates]
    self._cams = [Banded(model, params, lambda m, y, k=k: m.cam(y, k), model.downsampling // 4,
                         synthesis=True, filters=sum(model.branch_channels[:k]))
                  for k in range(1, model.max_branches + 1)]
    self._inverse_memory = [
        ProgramMemory(run, lambda r, c: (self.params,
                                         abstract((1, r, c, model.num_latents), np.float32)))
        for run in self._inverses]

  def decode_footprint(self, shapes: dict, rate: int, num_branches: int) -> Footprint:
    """The IBAL on the whole y^ (and its output), the CAM's first K branches
    on one band, the latents' and the coding BALs' host arrays."""
    rows, cols, channels = shapes["y"]
    inverse = Footprint(programs=self._inverse_memory[rate].bytes(rows, cols),
                        host=4 * rows * cols * channels)
    footprint = (inverse + self._cams[num_branches - 1].memory((1, *shapes["y"]))
                 + self._latent_footprint(shapes))
    if rate != self.model.base_rate:
      footprint += Footprint(
          host=self.bal_bytes_per_element * self.bal_channels * rows * cols * channels)
    return footprint

  def _analyze_at(self, x: jax.Array, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(y_j, q_z) of an image batch at bitrate `rate`."""
    y_b = self.analysis(np.asarray(x))
    y, z = (np.asarray(a) for a in self._hyper_analyses[rate](self.params, y_b))
    return y, np.round(z - self.z_coder.medians).astype(np.int32)

  def _synthesize_at(self, y_hat: np.ndarray, rate: int, num_branches: int) -> np.ndarray:
    """x^ of one image's decoded y~_j (h, w, M): IBAL_y^, then the CAM at K."""
    y_hat_b = np.array(self._inverses[rate](self.params, y_hat[None].astype(np.float32)))
    return self._cams[num_branches - 1](y_hat_b)[0]

  def _shrink(self, values_fixed: np.ndarray, network: integer_network.Network) -> np.ndarray:
    """A BAL on whole fixed-point maps: values * (1 - sigmoid(B(values)))."""
    return np.asarray(exact_shrink(values_fixed, network(values_fixed), self.shrink))


class CBANetCodec(_CBANetLevels, ScaleHyperpriorCodec):
  """CBANet-HP: bmshj2018's streams at any of the model's bitrates j, decoded
  at any complexity level K the receiver picks.

  At a bitrate j other than the base, y_j = BAL_y(g_a(x)) is coded with the
  scales BAL_sigma(h_s(z^)): h_s, the CNN of BAL_sigma and its
  1 - sigmoid are integer (exact_shrink), so the scale indexes are the same
  on every machine. The decoder's IBAL and CAM branches run in float (they
  only shape the image)."""

  coding_bals = ("bal_scales",)
  bal_channels = 1  # the scales

  def __init__(self, model, params, arrays: dict[str, np.ndarray]):
    super().__init__(model, params, arrays)
    self._setup_levels(model, params, arrays)
    self.bal_scales = [integer_network.Network(layers)
                       for layers in self.bal_layers["bal_scales"]]

  def scales_fixed(self, q_z: np.ndarray, expected: tuple[int, ...], rate: int) -> np.ndarray:
    """The scales of y_j in fixed point, exactly: BAL_sigma(h_s(z^))."""
    scales = self._hyper_for(q_z, expected)
    if rate == self.model.base_rate:
      return scales
    return self._shrink(scales, self.bal_scales[rate])

  def encode(self, x: jax.Array, rate: int) -> list[tuple[list[bytes], dict]]:
    y, q_z = self._analyze_at(x, rate)
    q_y = np.round(y).astype(np.int32)
    out = []
    for qy, qz in zip(q_y, q_z):
      indexes = self.scale_indexes(self.scales_fixed(qz, qy.shape, rate))
      streams = [self.z_coder.encode(qz), self.y_coder.encode(qy, indexes)]
      out.append((streams, {"z": qz, "y": qy}))
    return out

  def decode(self, streams: list[bytes], shapes: dict, rate: int,
             num_branches: int) -> tuple[np.ndarray, dict]:
    q_z = self.z_coder.decode(streams[0], shapes["z"])
    q_y = self.y_coder.decode(streams[1], self.scale_indexes(
        self.scales_fixed(q_z, shapes["y"], rate)))
    return self._synthesize_at(q_y, rate, num_branches), {"z": q_z, "y": q_y}


class CBANetARCodec(_CBANetLevels, JointAutoregressiveCodec):
  """CBANet-AR: mbt2018's wavefront-coded streams at any of the model's
  bitrates j, decoded at any complexity level K the receiver picks.

  At a bitrate j other than the base, e reads BAL_psi(h_s(z^)) and
  BAL_phi(c(y~_j)), both integer: BAL_psi once on the whole hyper map,
  BAL_phi (pointwise, so causal) inside each wavefront step, so that every
  position's (scale index, mean) is the same on every machine."""

  coding_bals = ("bal_hyper", "bal_context")
  bal_channels = 2  # h_s's scales and means (BAL_phi runs inside the wavefront steps)

  def __init__(self, model, params, arrays: dict[str, np.ndarray]):
    super().__init__(model, params, arrays)
    self._setup_levels(model, params, arrays)
    self.bal_hyper = [integer_network.Network(layers)
                      for layers in self.bal_layers["bal_hyper"]]
    table = jnp.asarray(self.shrink, jnp.int32)
    self.bal_context = [
        ContextShrink(tuple(layer.activation for layer in layers),
                      [integer_network.to_device(layer) for layer in layers], table)
        for layers in self.bal_layers["bal_context"]]

  def _entropy_inputs(self, q_z: np.ndarray, expected: tuple[int, ...], rate: int):
    """(the hyper input of e in fixed point, the BAL on its context input or
    None) at bitrate `rate`: BAL_psi(h_s(z^)) and BAL_phi."""
    hyper = self._hyper_for(q_z, expected)
    if rate == self.model.base_rate:
      return hyper, None
    return self._shrink(hyper, self.bal_hyper[rate]), self.bal_context[rate]

  def encode(self, x: jax.Array, rate: int) -> list[tuple[list[bytes], dict]]:
    y, q_z = self._analyze_at(x, rate)
    return [self._encode_y(yi, qz, *self._entropy_inputs(qz, yi.shape, rate))
            for yi, qz in zip(y, q_z)]

  def decode(self, streams: list[bytes], shapes: dict, rate: int,
             num_branches: int) -> tuple[np.ndarray, dict]:
    q_z = self.z_coder.decode(streams[0], shapes["z"])
    q_y, y_hat = self._decode_y(streams[1], *self._entropy_inputs(q_z, shapes["y"], rate))
    return (self._synthesize_at(y_hat, rate, num_branches),
            {"z": q_z, "y": q_y, "y_hat": y_hat})


CODECS = {
    "bls2017": FactorizedPriorCodec,
    "bmshj2018": ScaleHyperpriorCodec,
    "mbt2018_mean": MeanScaleHyperpriorCodec,
    "mbt2018": JointAutoregressiveCodec,
    "cbanet_hp": CBANetCodec,
    "cbanet_ar": CBANetARCodec,
}
