"""CBANet's codecs (lic_jax.cbanet.model): bmshj2018's streams (CBANet-HP)
and mbt2018's wavefront-coded streams (CBANet-AR) at any of the model's
bitrates j, decoded at any complexity K. They extend the classic model
codecs (lic_jax.coding.model_codecs) through level hooks: y_j and z come
from the float encoder at bitrate j; the scales (and CBANet-AR's context)
pass through the integer BALs of Eq. 8 (exact_shrink), whose float form is
lic_jax.cbanet.model.BitrateAdaptiveLayer; the decoder runs the IBAL at j and
the CAM with K branches.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from lic_jax.cbanet.model import BITRATE_CNN, BITRATE_CNN_LAYERS
from lic_jax.coding import integer_network
from lic_jax.coding.integer_network import Activation
from lic_jax.coding.memory import Footprint, ProgramMemory, abstract
from lic_jax.coding.model_codecs import (Banded, JointAutoregressiveCodec, ScaleHyperpriorCodec,
                                         jit_method)


@dataclasses.dataclass(frozen=True)
class ContextShrink:
  """A BAL on the context before e (CBANet-AR's BAL_phi), applied inside
  each coding step: its pointwise CNN B_phi as device layers, and the
  shrink table."""

  activations: tuple[Activation, ...]
  layers: list[integer_network.DeviceLayer]
  table: jax.Array

  def __call__(self, x: jax.Array) -> jax.Array:
    b = x
    for layer, activation in zip(self.layers, self.activations):
      b = integer_network.dense(layer, activation, b)
    return exact_shrink(x, b, self.table)


jax.tree_util.register_dataclass(ContextShrink, data_fields=["layers", "table"],
                                 meta_fields=["activations"])


# CBANet's Eq. 8, y_j = y_b * (1 - sigmoid(B(y_b))), in integers: its float
# form is lic_jax.cbanet.model.BitrateAdaptiveLayer.
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

  pointwise_in, depthwise_1, depthwise_2, pointwise_out = BITRATE_CNN_LAYERS
  return [integer_network.quantize_conv(b[pointwise_in]["kernel"], b[pointwise_in]["bias"],
                                        Activation.LEAKY_RELU),
          depthwise(b[depthwise_1]), depthwise(b[depthwise_2]),
          integer_network.quantize_conv(b[pointwise_out]["kernel"], b[pointwise_out]["bias"],
                                        Activation.NONE)]


def _bal_networks(model, params, layer: str) -> dict[str, np.ndarray]:
  """The integer CNN of BAL `layer` of every BAM, packed as '{layer}_{j}/'."""
  arrays = {}
  for j in range(model.num_rates - 1):
    cnn = params[f"bams_{j}"][layer][BITRATE_CNN]
    arrays.update(integer_network.pack(_integer_bitrate_cnn(cnn), f"{layer}_{j}/"))
  return arrays


class _CBANetLevels:
  """What the CBANet codecs add to the hyperprior codecs they extend: y_j
  and z of an image at bitrate j (float, encoder side), the decoder's IBAL
  and CAM at (j, K), all compiled per level on first use; the shrink table
  of the integer BALs."""

  # Host bytes per element of a map a coding BAL shrinks, at a bitrate other
  # than the base: its integer CNN's input and output (int32), and
  # exact_shrink's temporaries (eager jnp: each step a whole map).
  bal_bytes_per_element = 68
  # The BALs that decide how symbols are coded: integer, in the tables, the
  # first of them on h_s(z^) (CBANet-HP's BAL_sigma on the scales,
  # CBANet-AR's BAL_psi on e's hyper input); and the channels of the map
  # each shrinks, per latent channel.
  coding_bals: tuple[str, ...]
  bal_channels: int

  @classmethod
  def freeze(cls, model, params) -> dict[str, np.ndarray]:
    arrays = super().freeze(model, params)
    arrays["bal/shrink"] = shrink_table()
    for layer in cls.coding_bals:
      arrays.update(_bal_networks(model, params, layer))
    return arrays

  def __init__(self, model, params, arrays: dict[str, np.ndarray]):
    super().__init__(model, params, arrays)
    self.shrink = arrays["bal/shrink"]
    # {BAL: its integer CNN per bitrate j < base}
    self.bal_layers = {layer: [integer_network.unpack(arrays, f"{layer}_{j}/")
                               for j in range(model.num_rates - 1)]
                       for layer in self.coding_bals}
    self.hyper_bals = [integer_network.Network(layers)
                       for layers in self.bal_layers[self.coding_bals[0]]]
    # Per bitrate j: (params, y_b) -> (y_j, z) and (params, y~_j) -> y^_b;
    # per K: the CAM's first K branches.
    rates = range(model.num_rates)
    self._hyper_analyses = [jit_method(model, lambda m, y, j=j: m.analyze_hyper(y, j))
                            for j in rates]
    self._inverses = [jit_method(model, lambda m, y, j=j: m.inverse_bitrate(y, j))
                      for j in rates]
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

  def _analyze(self, x: jax.Array, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(y_j, q_z) of an image batch at bitrate `rate`."""
    y_b = self.analysis(np.asarray(x))
    y, z = (np.asarray(a) for a in self._hyper_analyses[rate](self.params, y_b))
    return y, self.hyper.z.quantize(z)

  def _synthesize(self, y_hat: np.ndarray, rate: int, num_branches: int) -> np.ndarray:
    """x^ of one image's decoded y~_j (h, w, M): IBAL_y^, then the CAM at K."""
    y_hat_b = np.array(self._inverses[rate](self.params, y_hat[None].astype(np.float32)))
    return self._cams[num_branches - 1](y_hat_b)[0]

  def _shrink(self, values_fixed: np.ndarray, network: integer_network.Network) -> np.ndarray:
    """A BAL on whole fixed-point maps: values * (1 - sigmoid(B(values)))."""
    return np.asarray(exact_shrink(values_fixed, network(values_fixed), self.shrink))

  def hyper_parameters(self, q_z: np.ndarray, y_shape: tuple[int, ...], rate: int,
                       num_branches: int | None = None) -> np.ndarray:
    """h_s(z^) in fixed point at bitrate `rate`, exactly, through the BAL on
    it: CBANet-HP's scales of y_j, BAL_sigma(h_s(z^)); CBANet-AR's hyper
    input of e, BAL_psi(h_s(z^))."""
    del num_branches
    hyper = self.hyper.parameters(q_z, y_shape)
    if rate == self.model.base_rate:
      return hyper
    return self._shrink(hyper, self.hyper_bals[rate])


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


class CBANetARCodec(_CBANetLevels, JointAutoregressiveCodec):
  """CBANet-AR: mbt2018's wavefront-coded streams at any of the model's
  bitrates j, decoded at any complexity level K the receiver picks.

  At a bitrate j other than the base, e reads BAL_psi(h_s(z^)) and
  BAL_phi(c(y~_j)), both integer: BAL_psi once on the whole hyper map,
  BAL_phi (pointwise, so causal) inside each coding step, so that every
  position's (scale index, mean) is the same on every machine."""

  coding_bals = ("bal_hyper", "bal_context")
  bal_channels = 2  # h_s's scales and means (BAL_phi runs inside the coding steps)

  def __init__(self, model, params, arrays: dict[str, np.ndarray]):
    super().__init__(model, params, arrays)
    table = jnp.asarray(self.shrink, jnp.int32)
    self.bal_context = [
        ContextShrink(tuple(layer.activation for layer in layers),
                      [integer_network.to_device(layer) for layer in layers], table)
        for layers in self.bal_layers["bal_context"]]


  def context_transform(self, rate: int, num_branches: int | None = None):
    """BAL_phi on the context at bitrate `rate` (None at the base)."""
    del num_branches
    return None if rate == self.model.base_rate else self.bal_context[rate]


CODECS = {"cbanet_hp": CBANetCodec, "cbanet_ar": CBANetARCodec}
