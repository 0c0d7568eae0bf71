"""Latent codecs: one object per latent path, in two halves that share the
model's parameters: the float half the model trains with (likelihoods,
hence the estimated rate) and the integer half that codes it, composed
into the model codecs (lic_jax.coding.model_codecs) as the float halves
are composed into the models.

An integer half (a latent codec) codes one latent tensor of one image,
exactly:
  freeze(...) -> arrays     its integer tables and networks, computed once
                            from the trained parameters and stored (every
                            key under the codec's prefix)
  Codec(arrays, ...)        encoder and decoder load the same arrays
  encode(...) -> bytes      one stream
  decode(bytes, ...)        the same integers back, on any machine
Everything that decides how a symbol is coded (tables, scale indexes,
means) is integer; the estimated rate of the float half is what the coded
rate matches.

  path             float half                    integer half
  factorized       entropy_models.EntropyBottleneck
                                                 FactorizedLatentCodec: q =
                                                 round(y - median), per-channel
                                                 tables
  Gaussian         entropy_models.GaussianConditional
  conditional                                    GaussianConditionalLatentCodec:
                                                 the table of the scale each
                                                 element's fixed-point scale
                                                 selects
  hyperprior       HyperpriorLatent: h_a, z~     HyperpriorLatentCodec: z
                   through the bottleneck, h_s   (factorized) and the integer
                                                 h_s that turns z^ into y's
                                                 fixed-point parameters
  context          ContextLatent: y~, each       ContextLatentCodec: y coded
                   position's Gaussian from e on in a coding order, each
                   [hyper, c(y~)]                position's parameters from its
                                                 coded neighbours (integer c
                                                 and e) and the hyperprior's
  checkerboard     CheckerboardLatent: the same, ContextLatentCodec in
  context          an anchor's context 0, and    CheckerboardOrder, mask
                   evaluation in the coder's     checkerboard_mask
                   two passes
  channel slices   ChannelSlicesLatent: y~ one   ChannelSlicesLatentCodec: one
                   slice of channels at a time,  step per slice, its (scale
                   its Gaussian from the hyper   index, mean) and residual
                   features and the earlier      from integer networks of the
                   slices, plus a latent         coded slices; the residual's
                   residual 0.5 tanh(r)          0.5 tanh a stored table

The float halves are Flax modules over the model's own layers (passed in,
their parameters under the model's names) that share the model's scope:
they add no parameters, names or random streams of their own. A path is
two classes, not one object: the integer half is built from tables frozen
once and stored with the checkpoint, and runs outside Flax on integers
alone, holding no float parameter it could be tempted to use.

Without a context, a latent is coded all at once (one range-coder call).
With one, a coding order gives the steps in which positions are coded; the
positions of one step are computed in batches of up to MAX_BATCH and coded
in one call each:
  WavefrontOrder(k)          mbt2018's raster context of a k x k mask, in
                             the wavefront steps of lic_jax.coding.wavefront
  CheckerboardOrder()        He et al. 2021's checkerboard context: the
                             anchors, then the rest (two steps)
A spatial context of another order is a new order and mask for
ContextLatentCodec (and, where its float half differs, a float half such
as CheckerboardLatent), not a new codec. Channel slices order channels
rather than positions: ChannelSlicesLatentCodec codes one slice per step,
all of its positions at once (`channel_slices` gives the slices' widths,
even or not).

Integer networks are read from the parameters by layer names the model
declares (e.g. models.transforms.HYPER_SYNTHESIS_LAYERS), never by Flax's
automatic names.
"""

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import ClassVar, Protocol

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lic_jax.coding import integer_network, range_coder, tables
from lic_jax.coding.integer_network import Activation, padded_size
from lic_jax.coding.wavefront import wavefront
from lic_jax.entropy_models import GaussianConditional
from lic_jax.layers.rounding import ste_round


def split_scales_means(params: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(..., 2M) -> scales (..., M), means (..., M): CompressAI's channel order."""
  scales, means = jnp.split(params, 2, axis=-1)
  return scales, means


def _channel_indexes(shape: tuple[int, ...]) -> np.ndarray:
  return np.broadcast_to(np.arange(shape[-1], dtype=np.int32), shape)


def fixed_sum(q: np.ndarray, offset_fixed: np.ndarray) -> np.ndarray:
  """q + offset in fixed point, e.g. y^ = q + mu (int64: q is whatever the
  stream holds)."""
  return (q.astype(np.int64) << integer_network.FRACTION_BITS) + offset_fixed


def clip_fixed(x: np.ndarray) -> np.ndarray:
  """A fixed-point network input as int32, clamped as every layer clamps its
  input (so that the int64 sums of fixed_sum fit)."""
  limit = integer_network.ACTIVATION_LIMIT
  return np.clip(x, -limit, limit).astype(np.int32)


def dequantize(q: np.ndarray, means_fixed: np.ndarray) -> np.ndarray:
  """y^ = q + mu as float32 (mu has FRACTION_BITS fraction bits)."""
  return integer_network.from_fixed(fixed_sum(q, means_fixed))


def integer_layers(params, names: Sequence[str], hidden: Activation, last: Activation,
                   transpose_strides: Sequence[int] = ()) -> list[integer_network.IntegerConv]:
  """The convolutions `names` of a network's parameters (each a layer of
  lic_jax.layers: {kernel, bias}, or {conv: {kernel, bias}}) frozen into
  fixed point, `hidden` after each but the last, `last` after it; the first
  len(transpose_strides) are transposed convolutions of those strides."""
  layers = []
  for i, name in enumerate(names):
    layer = params[name]["conv"] if "conv" in params[name] else params[name]
    activation = last if i == len(names) - 1 else hidden
    stride = transpose_strides[i] if i < len(transpose_strides) else 0
    layers.append(integer_network.quantize_conv(layer["kernel"], layer["bias"], activation,
                                                stride))
  return layers


class FactorizedLatentCodec:
  """q = round(y - median), coded per channel with the bottleneck's tables."""

  @staticmethod
  def freeze(prefix: str, channels: int, bottleneck_params,
             fixed_medians: bool = False) -> dict[str, np.ndarray]:
    """The tables of an EntropyBottleneck; fixed_medians: also its medians in
    fixed point (an integer network's input is z^ = q + median)."""
    arrays = {f"{prefix}/{k}": v
              for k, v in tables.factorized_table(channels, bottleneck_params).items()}
    if fixed_medians:
      arrays[f"{prefix}/medians_fixed"] = integer_network.to_fixed(arrays[f"{prefix}/medians"])
    return arrays

  def __init__(self, arrays: dict[str, np.ndarray], prefix: str):
    self.lookup = range_coder.Lookup.of(arrays[f"{prefix}/lookup"])
    self.offsets = arrays[f"{prefix}/offsets"]
    self.medians = arrays[f"{prefix}/medians"]
    self.medians_fixed = arrays.get(f"{prefix}/medians_fixed")
    self.name = f"{prefix} stream"

  def quantize(self, y: np.ndarray) -> np.ndarray:
    return np.round(y - self.medians).astype(np.int32)

  def dequantize(self, q: np.ndarray) -> np.ndarray:
    return (q + self.medians).astype(np.float32)

  def encode(self, q: np.ndarray) -> bytes:
    return range_coder.encode(q - self.offsets, _channel_indexes(q.shape), self.lookup)

  def decode(self, data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    indexes = _channel_indexes(shape)
    return range_coder.decode(data, indexes, self.lookup, self.name) + self.offsets


class GaussianConditionalLatentCodec:
  """q coded with the Gaussian table of the scale selected by each index;
  the index of a fixed-point scale is exact (scale_indexes)."""

  @staticmethod
  def freeze(prefix: str) -> dict[str, np.ndarray]:
    """The tables of the models' GaussianConditional (its scale table and
    tail mass), and the thresholds between its scales in fixed point."""
    gc = GaussianConditional()
    scale_table = np.asarray(gc.scale_table)
    arrays = {f"{prefix}/{k}": v
              for k, v in tables.gaussian_table(scale_table, gc.tail_mass).items()}
    # Each scale is coded with the table scale nearest to it in log domain:
    # index i covers (sqrt(s[i-1] s[i]), sqrt(s[i] s[i+1])]. CompressAI's rule
    # (the smallest table scale >= the predicted one) cost ~3% more bits
    # here, the nearest one matches the estimated rate to ~0.1%.
    arrays[f"{prefix}/thresholds"] = integer_network.to_fixed(
        np.sqrt(scale_table[:-1] * scale_table[1:]))
    return arrays

  def __init__(self, arrays: dict[str, np.ndarray], prefix: str):
    self.lookup = range_coder.Lookup.of(arrays[f"{prefix}/lookup"])
    self.offsets = arrays[f"{prefix}/offsets"]
    self.thresholds = arrays[f"{prefix}/thresholds"]
    self.name = f"{prefix} stream"

  def scale_indexes(self, scales_fixed: np.ndarray) -> np.ndarray:
    """Table index of each fixed-point scale (nearest table scale in log domain)."""
    return np.searchsorted(self.thresholds, scales_fixed, side="left").astype(np.int32)

  def encode(self, q: np.ndarray, indexes: np.ndarray) -> bytes:
    return range_coder.encode(q - self.offsets[indexes], indexes, self.lookup)

  def decode(self, data: bytes, indexes: np.ndarray) -> np.ndarray:
    return range_coder.decode(data, indexes, self.lookup, self.name) + self.offsets[indexes]

  def decoder(self, data: bytes) -> range_coder.Decoder:
    """A decoder of `data` that a coding order reads step by step."""
    return range_coder.Decoder(data, self.lookup, self.name)


class HyperpriorLatentCodec:
  """z coded with the bottleneck's tables, and h_s run on z^ exactly (an
  integer network): the fixed-point parameters of y, `outputs` maps of M
  channels (1: scales; 2: scales, then means)."""

  @staticmethod
  def freeze(num_filters: int, params, hyper_synthesis: list[integer_network.IntegerConv]
             ) -> dict[str, np.ndarray]:
    """z's tables (params['entropy_bottleneck']) and the frozen h_s."""
    arrays = FactorizedLatentCodec.freeze("z", num_filters, params["entropy_bottleneck"],
                                          fixed_medians=True)
    arrays.update(integer_network.pack(hyper_synthesis, "h_s/"))
    return arrays

  def __init__(self, arrays: dict[str, np.ndarray], num_latents: int, outputs: int):
    self.z = FactorizedLatentCodec(arrays, "z")
    self.hyper_synthesis = integer_network.Network(integer_network.unpack(arrays, "h_s/"))
    self.num_latents, self.outputs = num_latents, outputs

  def parameters(self, q_z: np.ndarray, y_shape: tuple[int, ...]) -> np.ndarray:
    """h_s(z^) in fixed point, exactly, from z^ = q_z + median; a ValueError
    if it does not match y of shape `y_shape`."""
    hyper = self.hyper_synthesis(clip_fixed(fixed_sum(q_z, self.z.medians_fixed)))
    channels = self.outputs * self.num_latents
    if hyper.shape[:2] != tuple(y_shape[:2]) or hyper.shape[2] != channels:
      raise ValueError(f"hyper parameters {hyper.shape} do not match y {tuple(y_shape)}")
    return hyper


class CodingOrder(Protocol):
  """The steps in which the positions of an H x W latent are coded: each a
  (rows, cols) pair of index arrays, every position once."""

  def steps(self, height: int, width: int) -> Sequence[tuple[np.ndarray, np.ndarray]]:
    ...


@dataclasses.dataclass(frozen=True)
class WavefrontOrder:
  """mbt2018's raster context of a kernel_size mask, in wavefront steps
  (lic_jax.coding.wavefront): a position's step follows all of its
  context's."""

  kernel_size: int

  def steps(self, height: int, width: int) -> Sequence[tuple[np.ndarray, np.ndarray]]:
    return wavefront(height, width, self.kernel_size).steps


def checkerboard_anchors(height: int, width: int) -> np.ndarray:
  """(H, W) bool: the anchors of He et al.'s checkerboard, (i + j) even
  (the top-left latent is one)."""
  i, j = np.indices((height, width))
  return (i + j) % 2 == 0


@dataclasses.dataclass(frozen=True)
class CheckerboardOrder:
  """He et al. 2021's two steps: the anchors (their context empty: the
  checkerboard mask sees only the other colour, not yet coded), then the
  non-anchors (their context the anchors), each in raster order."""

  def steps(self, height: int, width: int) -> Sequence[tuple[np.ndarray, np.ndarray]]:
    anchors = checkerboard_anchors(height, width)
    return [np.nonzero(anchors), np.nonzero(~anchors)]


exact_matmul = jax.jit(integer_network.exact_matmul)

# Positions whose parameters are computed in one batch. The positions of a
# step never see each other, so a long step (a checkerboard's half of the
# image) is computed in batches of at most this many, in order: the memory
# of a batch is bounded whatever the image size (~30 MB of context patches
# for M = 320), and the stream is the same.
MAX_BATCH = 2048


@functools.partial(jax.jit, static_argnums=0)
def _entropy_parameters(activations: tuple[Activation, ...],
                        layers: list[integer_network.DeviceLayer], patches: jax.Array,
                        hyper_acc: integer_network.Accumulator, context_transform
                        ) -> jax.Array:
  """Fixed-point (scales, means) (P, 2M) of one step's positions from their
  context patches (P, taps * M) and the hyper half of the first
  entropy-parameter layer (P, C); layers: context, first (context half),
  rest; context_transform: None, or an exact map applied to the context's
  output (a registered pytree, e.g. CBANet-AR's BAL)."""
  context, first, *rest = layers
  x = integer_network.dense(context, activations[0], patches)
  if context_transform is not None:
    x = context_transform(x)
  x = integer_network.finish(
      hyper_acc + integer_network.exact_matmul(x, first.matrix, first.bias),
      first.shift, activations[1])
  for layer, activation in zip(rest, activations[2:]):
    x = integer_network.dense(layer, activation, x)
  return x


class ContextLatentCodec:
  """y coded in `order`, each position's Gaussian (scale index, mean) given
  by the entropy-parameter network e on [hyper parameters, context], the
  context a masked convolution over the already-coded y^ (its visible taps:
  `mask`). Each step computes the parameters of its positions in batches
  of exact fixed-point matrix products and codes each batch in one call;
  the encoder runs the same steps, so both sides see identical parameters.
  The symbols of the stream follow the steps, then the positions within a
  step, then the channels."""

  @staticmethod
  def freeze(context_params, mask: np.ndarray, entropy_parameters_params,
             entropy_parameters_layers: Sequence[str]) -> dict[str, np.ndarray]:
    """The context convolution ({kernel, bias}, or {kernel} without a
    bias) under its mask, and e's layers (by name, first to last), frozen."""
    masked = np.asarray(context_params["kernel"]) * mask[:, :, None, None]
    bias = context_params.get("bias", np.zeros(masked.shape[-1], np.float32))
    arrays = integer_network.pack(
        [integer_network.quantize_conv(masked, bias, Activation.NONE)], "context/")
    arrays.update(integer_network.pack(
        integer_layers(entropy_parameters_params, entropy_parameters_layers,
                       Activation.LEAKY_RELU, Activation.NONE), "entropy_parameters/"))
    return arrays

  def __init__(self, arrays: dict[str, np.ndarray], mask: np.ndarray, order: CodingOrder,
               y: GaussianConditionalLatentCodec, num_latents: int):
    (context,) = integer_network.unpack(arrays, "context/")
    first, *rest = integer_network.unpack(arrays, "entropy_parameters/")
    self.order, self.y, self.num_latents = order, y, num_latents
    k = mask.shape[0]
    self.pad = k // 2
    rows, cols = np.nonzero(mask)
    self.offsets = np.stack([rows - self.pad, cols - self.pad], axis=1)
    m = num_latents
    # The context layer keeps only its visible taps, flattened like the
    # gathered patches; the first entropy-parameter layer is split into its
    # hyper half (run once for all positions) and its context half (per step).
    visible = context.kernel[rows, cols]
    context = dataclasses.replace(context, kernel=visible.reshape(1, 1, -1, 2 * m))
    self.first_hyper = jnp.asarray(first.matrix[:2 * m])
    first = dataclasses.replace(first, kernel=first.kernel[:, :, 2 * m:])
    layers = [context, first, *rest]
    self._step_layers = [integer_network.to_device(layer) for layer in layers]
    self._activations = tuple(layer.activation for layer in layers)

  def accumulator_bytes(self, rows: int, cols: int) -> int:
    """The hyper half of the first entropy-parameter layer for every
    position: its high and low int32 accumulators, on the device and in
    numpy."""
    return 4 * 4 * rows * cols * int(self.first_hyper.shape[1])

  def _batches(self, height: int, width: int):
    """The order's steps, each in batches of at most MAX_BATCH positions."""
    for rows, cols in self.order.steps(height, width):
      for start in range(0, len(rows), MAX_BATCH):
        yield rows[start:start + MAX_BATCH], cols[start:start + MAX_BATCH]

  def _run(self, hyper: np.ndarray, code_step: Callable, context_transform=None):
    """Visits the order's steps; code_step(rows, cols, indexes, means) -> q
    for those positions. Returns q (h, w, M) and the fixed-point y^ (int64)."""
    h, w, _ = hyper.shape
    m, pad = self.num_latents, self.pad
    # The hyper half of the first entropy-parameter layer, for all positions
    # at once (exact, like every product here); the context half per batch.
    hyper_acc = exact_matmul(hyper.reshape(h * w, 2 * m), self.first_hyper)
    hyper_high, hyper_low = np.asarray(hyper_acc.high), np.asarray(hyper_acc.low)
    # The context model's input, clamped like every fixed-point input.
    grid = np.zeros((h + 2 * pad, w + 2 * pad, m), np.int32)
    y_fixed = np.zeros((h, w, m), np.int64)
    q = np.zeros((h, w, m), np.int32)
    di, dj = self.offsets[:, 0], self.offsets[:, 1]
    for rows, cols in self._batches(h, w):
      n = len(rows)
      fill = np.minimum(np.arange(padded_size(n)), n - 1)
      r, c = rows[fill], cols[fill]
      patches = grid[r[:, None] + di + pad, c[:, None] + dj + pad].reshape(len(fill), -1)
      at = r * w + c
      parameters = np.asarray(_entropy_parameters(
          self._activations, self._step_layers, patches,
          integer_network.Accumulator(hyper_high[at], hyper_low[at]), context_transform))[:n]
      means = parameters[:, m:]
      q_step = code_step(rows, cols, self.y.scale_indexes(parameters[:, :m]), means)
      q[rows, cols] = q_step
      y_fixed[rows, cols] = fixed_sum(q_step, means)
      grid[rows + pad, cols + pad] = clip_fixed(y_fixed[rows, cols])
    return q, y_fixed

  def encode(self, y: np.ndarray, hyper: np.ndarray, context_transform=None
             ) -> tuple[bytes, np.ndarray, np.ndarray]:
    """(the stream, q, y^ as float32) of one image's y (h, w, M), given
    `hyper` (h_s(z^) in fixed point)."""
    symbols, indexes = [], []

    def code_step(rows, cols, idx, means):
      q_step = np.round(y[rows, cols] - integer_network.from_fixed(means)).astype(np.int32)
      symbols.append(q_step.ravel())
      indexes.append(idx.ravel())
      return q_step

    q, y_fixed = self._run(hyper, code_step, context_transform)
    stream = self.y.encode(np.concatenate(symbols), np.concatenate(indexes))
    return stream, q, integer_network.from_fixed(y_fixed)

  def decode(self, stream: bytes, hyper: np.ndarray, context_transform=None
             ) -> tuple[np.ndarray, np.ndarray]:
    """(q, y^ as float32) of a y stream, given `hyper`."""
    decoder = self.y.decoder(stream)
    offsets = self.y.offsets

    def code_step(rows, cols, idx, means):
      del rows, cols, means
      return decoder.decode(idx) + offsets[idx]

    q, y_fixed = self._run(hyper, code_step, context_transform)
    decoder.finish()
    return q, integer_network.from_fixed(y_fixed)


class HyperpriorLatent(nn.Module):
  """The float half of HyperpriorLatentCodec: z = h_a(y) (of |y| where h_a
  reads magnitudes, as bmshj2018's does), z~ through the factorized
  bottleneck (noise in training, rounding around the medians otherwise),
  and h_s(z~), the parameters of y that z sends."""

  hyper_analysis: nn.Module
  hyper_synthesis: nn.Module
  entropy_bottleneck: nn.Module
  magnitudes: bool = False

  def analyze(self, y: jax.Array) -> jax.Array:
    """z = h_a(y), or h_a(|y|)."""
    return self.hyper_analysis(jnp.abs(y) if self.magnitudes else y)

  def __call__(self, y: jax.Array, training: bool
               ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(h_s(z~), z~, the likelihoods of z~)."""
    z_hat, z_likelihood = self.entropy_bottleneck(self.analyze(y), training)
    return self.hyper_synthesis(z_hat), z_hat, z_likelihood


class ContextLatent(nn.Module):
  """The float half of ContextLatentCodec: y~ and its likelihoods under a
  Gaussian whose (scale, mean) at each position is e([hyper, c(y~)]), c
  the masked context convolution of Minnen et al.'s joint model.
  `context_transform`, where given, acts on c(y~) before e (as the integer
  half's does: CBANet-AR's BAL_phi).

  Training feeds one noisy y~ = y + u to the context, the likelihood and
  g_s. Evaluation computes the context from round(y) and y~ = round(y - mu)
  + mu, since the exact y~ needs the sequential order of the coder; the
  coder's contexts come from the coded y~, whose rate `parameters` gives."""

  context_prediction: nn.Module
  entropy_parameters: nn.Module
  gaussian_conditional: nn.Module

  # The context convolution this path expects (lic_jax.layers.MaskedConv).
  mask_type: ClassVar[str] = "A"
  context_bias: ClassVar[bool] = True

  def context(self, y_hat: jax.Array) -> jax.Array:
    """c(y~): the context of every position."""
    return self.context_prediction(y_hat)

  def parameters(self, y_hat: jax.Array, hyper: jax.Array,
                 context_transform: Callable | None = None
                 ) -> tuple[jax.Array, jax.Array]:
    """(scales, means) of every element of y given y~ and the hyper
    parameters."""
    context = self.context(y_hat)
    if context_transform is not None:
      context = context_transform(context)
    return split_scales_means(
        self.entropy_parameters(jnp.concatenate([hyper, context], axis=-1)))

  def __call__(self, y: jax.Array, hyper: jax.Array, training: bool,
               context_transform: Callable | None = None) -> tuple[jax.Array, jax.Array]:
    """(y~, the likelihoods of y~)."""
    gc = self.gaussian_conditional
    if training:
      y_hat = y + jax.random.uniform(self.make_rng("noise"), y.shape, y.dtype, -0.5, 0.5)
      scales, means = self.parameters(y_hat, hyper, context_transform)
    else:
      scales, means = self.parameters(gc.quantize(y), hyper, context_transform)
      y_hat = gc.quantize(y, means)
    return y_hat, gc.likelihood(y_hat, scales, means)


class CheckerboardLatent(ContextLatent):
  """The float half of ContextLatentCodec in CheckerboardOrder (He et al.
  2021): an anchor's context is 0, a non-anchor's the checkerboard-masked
  convolution c of the anchors around it (c has no bias, so that the
  integer half's context of an anchor, computed before anything is coded,
  is exactly 0 as well).

  Training is one pass over the noisy y~ = y + u, as in the paper (c at a
  non-anchor reads only anchors). Evaluation is exact, in the coder's two
  passes: the anchors' y~ = round(y - mu) + mu with (sigma, mu) =
  e([hyper, 0]), then the non-anchors' from the context of those."""

  mask_type: ClassVar[str] = "checkerboard"
  context_bias: ClassVar[bool] = False

  def context(self, y_hat: jax.Array) -> jax.Array:
    height, width = y_hat.shape[-3:-1]
    non_anchors = jnp.asarray(~checkerboard_anchors(height, width))[:, :, None]
    return self.context_prediction(y_hat) * non_anchors

  def __call__(self, y: jax.Array, hyper: jax.Array, training: bool,
               context_transform: Callable | None = None) -> tuple[jax.Array, jax.Array]:
    """(y~, the likelihoods of y~)."""
    if training:
      return super().__call__(y, hyper, training, context_transform)
    gc = self.gaussian_conditional
    anchors = jnp.asarray(checkerboard_anchors(*y.shape[-3:-1]))[:, :, None]
    _, means = self.parameters(jnp.zeros_like(y), hyper, context_transform)
    anchors_hat = jnp.where(anchors, gc.quantize(y, means), 0.0)
    scales, means = self.parameters(anchors_hat, hyper, context_transform)
    y_hat = gc.quantize(y, means)
    return y_hat, gc.likelihood(y_hat, scales, means)


def channel_slices(num_latents: int, num_slices: int) -> tuple[int, ...]:
  """The widths of num_slices slices of num_latents channels, as even as
  they can be, the wider first (320 in 10: ten of 32; 48 in 10: eight of 5,
  two of 4)."""
  if not 0 < num_slices <= num_latents:
    raise ValueError(f"{num_latents} latent channels cannot make {num_slices} slices")
  return tuple(len(s) for s in np.array_split(np.arange(num_latents), num_slices))


# The latent residual's 0.5 tanh(r) in fixed point, tabulated at steps of
# 2^-HALF_TANH_BITS of r up to |r| = HALF_TANH_RANGE (beyond, 0.5 tanh is 0.5
# to within 2^-FRACTION_BITS): a lookup of stored integers, the same on
# every machine, within 2^-(HALF_TANH_BITS + 2) of the float model's tanh.
HALF_TANH_BITS = 8
HALF_TANH_RANGE = 8


def half_tanh_table() -> np.ndarray:
  """0.5 tanh(k 2^-HALF_TANH_BITS) in fixed point, k from -K to K (int32)."""
  steps = HALF_TANH_RANGE << HALF_TANH_BITS
  return integer_network.to_fixed(0.5 * np.tanh(np.arange(-steps, steps + 1) / 2.0**HALF_TANH_BITS))


def half_tanh_fixed(r: np.ndarray, table: np.ndarray) -> np.ndarray:
  """0.5 tanh(r) of fixed-point r, from the table (r rounded to its step)."""
  shift = integer_network.FRACTION_BITS - HALF_TANH_BITS
  steps = (len(table) - 1) // 2
  at = np.clip((r.astype(np.int64) + (1 << (shift - 1))) >> shift, -steps, steps)
  return table[at + steps]


def _slice_bounds(slices: Sequence[int]) -> list[tuple[int, int]]:
  ends = np.cumsum(slices)
  return [(int(end - width), int(end)) for width, end in zip(slices, ends)]


# The three networks of each slice: its means, its scales, its latent residual.
SLICE_NETWORKS = ("mean", "scale", "residual")
# Their largest tile side: their halo is 5 positions (5x5, 5x5, 3x3 at
# stride 1), which tiles of 16 would compute 2.6 times over; a Kodak latent
# (48 x 32) is one tile of 64.
SLICE_TILE = 64


class ChannelSlicesLatentCodec:
  """y coded one slice of channels per step (Minnen & Singh 2020): slice i's
  Gaussian has mean mu_i = f_i^mu([mean features, support]) and scale index
  from f_i^sigma([scale features, support]), the support the decoded y^ of the
  first min(i, max_support) slices; after it is coded, its y^ = q + mu +
  0.5 tanh(r_i([mean features, support, q + mu])). The hyper features are
  h_s(z^) in fixed point (scales', then means'), every network an exact
  integer network, so encoder and decoder compute the same indexes. The
  symbols of the stream follow the slices, then the positions, then the
  channels of a slice."""

  @staticmethod
  def freeze(networks: dict[str, Sequence[list[integer_network.IntegerConv]]]
             ) -> dict[str, np.ndarray]:
    """{kind: the frozen network of each slice} (kinds: SLICE_NETWORKS),
    and the table of the residual's 0.5 tanh."""
    arrays = {"residual/half_tanh": half_tanh_table()}
    for kind in SLICE_NETWORKS:
      for i, layers in enumerate(networks[kind]):
        arrays.update(integer_network.pack(layers, f"{kind}_{i}/"))
    return arrays

  def __init__(self, arrays: dict[str, np.ndarray], slices: Sequence[int], max_support: int,
               y: GaussianConditionalLatentCodec):
    self.slices, self.max_support, self.y = tuple(slices), max_support, y
    # Every slice network reads and writes one layout, so that each kind
    # compiles one program rather than one per slice: inputs [features (M),
    # `slots` support slots and, for the residual, the coded slice's slot,
    # each as wide as the widest slice]; outputs as wide as the widest slice.
    self.width = max(self.slices)
    self.slots = min(max_support, len(self.slices) - 1)
    self.networks = {kind: [self._padded(arrays, kind, i) for i in range(len(self.slices))]
                     for kind in SLICE_NETWORKS}
    self.half_tanh = arrays["residual/half_tanh"]

  def _padded(self, arrays: dict[str, np.ndarray], kind: str, i: int) -> integer_network.Network:
    """Slice i's `kind` network on the common layout: its first kernel's
    input rows scattered to their slots (the other rows zero), its last
    layer given zero outputs up to the widest slice (zero kernel and bias;
    the shift of its last channel, any valid shift). Exactly the slice's
    network on the slots it reads: a zero row adds an exact 0."""
    m = sum(self.slices)
    layers = integer_network.unpack(arrays, f"{kind}_{i}/")
    rows = list(range(m))
    for j, width in enumerate(self.slices[:min(i, self.max_support)]):
      rows += range(m + j * self.width, m + j * self.width + width)
    if kind == "residual":
      coded = m + self.slots * self.width
      rows += range(coded, coded + self.slices[i])
    first = layers[0]
    c_in = m + (self.slots + (kind == "residual")) * self.width
    kernel = np.zeros((*first.kernel.shape[:2], c_in, first.kernel.shape[3]), first.kernel.dtype)
    kernel[:, :, rows] = first.kernel
    layers[0] = dataclasses.replace(first, kernel=kernel)
    last = layers[-1]
    extra = self.width - last.kernel.shape[3]
    layers[-1] = dataclasses.replace(
        last, kernel=np.pad(last.kernel, ((0, 0), (0, 0), (0, 0), (0, extra))),
        bias=np.pad(last.bias, (0, extra)), shift=np.pad(last.shift, (0, extra), mode="edge"))
    return integer_network.Network(layers, tile=SLICE_TILE)

  # What each distinct compiled slice program holds beyond its buffers (its
  # executable, the compilation's arenas): measured, 9 programs took 100-115
  # MB more than their largest's buffers in 1-MP decodes at N=32, M=48
  # (benchmarks/decode_memory.py, before the slices shared a layout); twice
  # that is counted. There are two now: mean and scale, and residual.
  COMPILED_PROGRAM_BYTES = 24 << 20

  def compiled_bytes(self) -> int:
    """COMPILED_PROGRAM_BYTES per distinct program of the slice networks
    (networks of the same layer shapes share one)."""
    programs = {tuple(layer.kernel.shape for layer in net.layers)
                for networks in self.networks.values() for net in networks}
    return self.COMPILED_PROGRAM_BYTES * len(programs)

  def program_bytes(self, rows: int, cols: int) -> int:
    """The buffers of the largest slice network's program on a latent of
    rows x cols (the networks run one at a time): the residual network, the
    widest input of the common layout."""
    return self.networks["residual"][0].program_bytes(rows, cols)

  def _run(self, hyper: np.ndarray, code_slice: Callable) -> tuple[np.ndarray, np.ndarray]:
    """Visits the slices; code_slice(i, indexes, means) -> q of slice i.
    Returns q (h, w, M) and the fixed-point y^ (int64)."""
    m = sum(self.slices)
    if hyper.shape[-1] != 2 * m:
      raise ValueError(f"hyper features {hyper.shape} do not match {m} latent channels")
    scale_features, mean_features = hyper[..., :m], hyper[..., m:]
    h, w = hyper.shape[:2]
    slots = np.zeros((h, w, self.slots * self.width), np.int32)
    coded_slot = np.zeros((h, w, self.width), np.int32)
    q, y_fixed = [], []
    for i, width in enumerate(self.slices):
      if 0 < i <= self.slots:
        slot = (i - 1) * self.width
        slots[..., slot:slot + self.slices[i - 1]] = clip_fixed(y_fixed[i - 1])
      mean_support = np.concatenate([mean_features, slots], axis=-1)
      means = self.networks["mean"][i](mean_support)[..., :width]
      indexes = self.y.scale_indexes(
          self.networks["scale"][i](np.concatenate([scale_features, slots], axis=-1))[..., :width])
      q_slice = code_slice(i, indexes, means)
      coded = fixed_sum(q_slice, means)
      coded_slot[..., :width] = clip_fixed(coded)
      residual = self.networks["residual"][i](
          np.concatenate([mean_support, coded_slot], axis=-1))[..., :width]
      q.append(q_slice)
      y_fixed.append(coded + half_tanh_fixed(residual, self.half_tanh))
    return np.concatenate(q, axis=-1), np.concatenate(y_fixed, axis=-1)

  def encode(self, y: np.ndarray, hyper: np.ndarray) -> tuple[bytes, np.ndarray, np.ndarray]:
    """(the stream, q, y^ as float32) of one image's y (h, w, M), given
    `hyper` (h_s(z^) in fixed point)."""
    bounds = _slice_bounds(self.slices)
    symbols, indexes = [], []

    def code_slice(i, idx, means):
      start, end = bounds[i]
      q_slice = np.round(y[..., start:end] - integer_network.from_fixed(means)).astype(np.int32)
      symbols.append(q_slice.ravel())
      indexes.append(idx.ravel())
      return q_slice

    q, y_fixed = self._run(hyper, code_slice)
    stream = self.y.encode(np.concatenate(symbols), np.concatenate(indexes))
    return stream, q, integer_network.from_fixed(y_fixed)

  def decode(self, stream: bytes, hyper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(q, y^ as float32) of a y stream, given `hyper`."""
    decoder = self.y.decoder(stream)

    def code_slice(i, idx, means):
      del i, means
      return decoder.decode(idx) + self.y.offsets[idx]

    q, y_fixed = self._run(hyper, code_slice)
    decoder.finish()
    return q, integer_network.from_fixed(y_fixed)


class ChannelSlicesLatent(nn.Module):
  """The float half of ChannelSlicesLatentCodec: per slice, the networks
  f_i^mu (means), f_i^sigma (scales) and r_i (latent residual), over the hyper
  features (h_s(z~): scales', then means') and the earlier slices' y~.

  Training (as Minnen & Singh's code): the likelihood is of the noisy
  y + u, while the slices' support and g_s see round(y - mu) + mu with the
  straight-through gradient. Evaluation rounds the same way; its slices
  are the coder's, up to the integer networks' rounding."""

  mean_transforms: Sequence[nn.Module]
  scale_transforms: Sequence[nn.Module]
  residual_transforms: Sequence[nn.Module]
  gaussian_conditional: nn.Module
  slices: tuple[int, ...]
  max_support: int

  def _run(self, hyper: jax.Array, code_slice: Callable) -> tuple[jax.Array, jax.Array]:
    """Visits the slices; code_slice(i, scales, means) -> (slice i's y~
    before its residual, its likelihoods). Returns (y~, likelihoods)."""
    scale_features, mean_features = split_scales_means(hyper)
    y_hat, likelihoods = [], []
    for i in range(len(self.slices)):
      support = y_hat[:self.max_support]
      mean_support = jnp.concatenate([mean_features, *support], axis=-1)
      means = self.mean_transforms[i](mean_support)
      scales = self.scale_transforms[i](jnp.concatenate([scale_features, *support], axis=-1))
      coded, likelihood = code_slice(i, scales, means)
      residual = self.residual_transforms[i](jnp.concatenate([mean_support, coded], axis=-1))
      y_hat.append(coded + 0.5 * jnp.tanh(residual))
      likelihoods.append(likelihood)
    return jnp.concatenate(y_hat, axis=-1), jnp.concatenate(likelihoods, axis=-1)

  def __call__(self, y: jax.Array, hyper: jax.Array, training: bool
               ) -> tuple[jax.Array, jax.Array]:
    """(y~, the likelihoods of y~)."""
    gc = self.gaussian_conditional
    bounds = _slice_bounds(self.slices)

    def code_slice(i, scales, means):
      y_slice = y[..., bounds[i][0]:bounds[i][1]]
      if training:
        noisy = y_slice + jax.random.uniform(self.make_rng("noise"), y_slice.shape,
                                             y_slice.dtype, -0.5, 0.5)
        return ste_round(y_slice - means) + means, gc.likelihood(noisy, scales, means)
      coded = gc.quantize(y_slice, means)
      return coded, gc.likelihood(coded, scales, means)

    return self._run(hyper, code_slice)

  def symbols(self, q: jax.Array, hyper: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(y~, the likelihoods) of coded symbols q (..., M): the coder's slices
    with the float networks."""
    gc = self.gaussian_conditional
    bounds = _slice_bounds(self.slices)

    def code_slice(i, scales, means):
      coded = q[..., bounds[i][0]:bounds[i][1]] + means
      return coded, gc.likelihood(coded, scales, means)

    return self._run(hyper, code_slice)
