"""Guo, Xu & Lu: CBANet, one decoder for many bitrates and complexity levels.

CBANet-HP (Sec. III-E, Fig. 5) is the scale hyperprior (Balle 2018) with

- a complexity adaptive module (CAM, Sec. III-C): K_max = 3 synthesis
  branches F_k, each a full g_s of its own width, all reading y^_b;
      x_k = F_k(y^_b)                                                 (6)
      x^  = sum_{k <= K} g_k * x_k                                    (7)
  K, the complexity level, is chosen by the decoder;
- one bitrate adaptive module (BAM, Sec. III-D) per supported bitrate j
  other than the base (the highest), made of bitrate adaptive layers (BAL)
  and inverse ones (IBAL) around a four-layer CNN B (Fig. 4):
      BAL:  y_j  = y_b  * (1 - sigmoid(B(y_b)))                       (8)
      IBAL: y^_b = y^_j * (1 + relu(B'(y^_j)))                        (9)
  At the base bitrate both are the identity (no BAM).

The forward pass at bitrate j with K branches (Fig. 5):

    y_b = g_a(x);         y_j = BAL_y(y_b)
    z = h_a(|IBAL_h(y_j)|);  z~ = Q(z);   sigma_j = BAL_sigma(h_s(z~))
    y~_j = Q(y_j);        y^_b = IBAL_y^(y~_j);   x^ = CAM_K(y^_b)

The hyper networks are the base model's: IBAL_h maps y_j back to what h_a
was trained on, BAL_sigma maps the base scales to the scales of y_j. Of a
BAM, only BAL_sigma and IBAL_y^ are decoder-side (Table III's 0.17M).

CBANet-AR (Fig. 6) is the same on Minnen 2018's joint autoregressive and
hierarchical priors (lic_jax.models.mbt2018): its BAM has BAL_y, IBAL_h and
IBAL_y^ as above, and, instead of BAL_sigma, one BAL on each input of the
frozen entropy-parameters network e:

    (sigma_j, mu_j) = e(BAL_psi(h_s(z~)), BAL_phi(c(y~_j)))

The context c(y~_j)_i is computed from the already-decoded latents before
i, so BAL_phi must not look at later positions: its CNN is B with 1x1
depthwise layers (B_phi, pointwise). The paper's 5x5 ones would make the
parameters of y_i depend on contexts c_{i'} of later positions i', which
depend on y~_i itself: not decodable. Pointwise, BAL_phi keeps the
decoding order and the wavefront schedule of mbt2018 (lic_jax.coding).

A stated departure: the paper "additionally introduce[s] two BAL" for
CBANet-AR, six layers with CBANet-HP's four, and counts 1.73M parameters
per BAM; ours has five (1.51M at P = 320), and one more 320-wide B would
give exactly 1,727,360. Where the sixth sits is in Fig. 6, which our copy
of the paper lacks; the authors' public code is CBANet-HP's. A BAL on e's
scales (CBANet-HP's BAL_sigma kept) would have to be pointwise too, and
would then give 1,712,000.

Bitrates are indexed j = 0 .. num_rates - 1 in increasing rate; the base is
j = num_rates - 1 (the paper's j = M).
"""

import math
from collections.abc import Callable
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from lic_jax.coding.latent_codecs import HyperpriorLatent
from lic_jax.entropy_models import EntropyBottleneck, GaussianConditional
from lic_jax.models.base import check_image_batch, model_output
from lic_jax.models.mbt2018 import latent_bits, setup_joint_prior
from lic_jax.models.transforms import (AnalysisTransform, HyperAnalysisTransform,
                                       HyperSynthesisTransform, SynthesisTransform, leaky_relu)

# The CAM's branch widths as fractions of N (the authors' code: N=128 gives
# 60, 60 and 88 channels, about 24 / 24 / 52 % of the CAM's FLOPs).
BRANCH_WIDTHS = (0.47, 0.47, 0.69)


# The layers of B by name, and B's name in a BAL / IBAL: the names the
# integer BALs of the codec read them by (lic_jax.cbanet.codec), those
# Flax gave them automatically before they were named here.
BITRATE_CNN_LAYERS = ("Conv_0", "Conv_1", "Conv_2", "Conv_3")
BITRATE_CNN = "BitrateCNN_0"


class BitrateCNN(nn.Module):
  """B of Fig. 4: conv1x1 C->P, LeakyReLU, depthwise 5x5, depthwise 5x5, conv1x1 P->C
  (depthwise 1x1 for the causal B_phi of CBANet-AR).

  The last layer starts at zero weights and the bias `output`: B starts as
  the constant `output`, whatever its input (see BitrateAdaptiveModule)."""

  width: int
  output: float = 0.0
  kernel_size: int = 5

  @nn.compact
  def __call__(self, y: jax.Array) -> jax.Array:
    channels, k = y.shape[-1], self.kernel_size
    pointwise_in, depthwise_1, depthwise_2, pointwise_out = BITRATE_CNN_LAYERS
    h = leaky_relu(nn.Conv(self.width, (1, 1), name=pointwise_in)(y))
    h = nn.Conv(self.width, (k, k), padding=k // 2, feature_group_count=self.width,
                name=depthwise_1)(h)
    h = nn.Conv(self.width, (k, k), padding=k // 2, feature_group_count=self.width,
                name=depthwise_2)(h)
    return nn.Conv(channels, (1, 1), kernel_init=nn.initializers.zeros,
                   bias_init=nn.initializers.constant(self.output), name=pointwise_out)(h)


class BitrateAdaptiveLayer(nn.Module):
  """BAL (Eq. 8): y_b -> y_j, an elementwise shrink in (0, 1); starts as y_b / step.

  The BALs that decide how symbols are coded have an integer form, exact on
  every machine: lic_jax.cbanet.codec.exact_shrink (with B frozen
  into an integer network)."""

  width: int
  step: float = 2.0
  kernel_size: int = 5

  @nn.compact
  def __call__(self, y: jax.Array) -> jax.Array:
    # 1 - sigmoid(log(step - 1)) = 1 / step.
    b = BitrateCNN(self.width, math.log(self.step - 1.0), self.kernel_size, name=BITRATE_CNN)(y)
    return y * (1.0 - nn.sigmoid(b))


class InverseBitrateAdaptiveLayer(nn.Module):
  """IBAL (Eq. 9): y^_j -> y^_b, an elementwise gain >= 1; starts as step * y^_j."""

  width: int
  step: float = 2.0

  @nn.compact
  def __call__(self, y: jax.Array) -> jax.Array:
    return y * (1.0 + nn.relu(BitrateCNN(self.width, self.step - 1.0, name=BITRATE_CNN)(y)))


def initial_step(rate: int, base_rate: int) -> float:
  """The quantization step a BAM starts with: 2^((base - j) / 2).

  Each BAM starts as the base model quantizing y with a uniform step
  (BAL_y: y / step, BAL_sigma: sigma / step, the IBALs: x step), which
  training then makes content adaptive. The distortion of a step is about
  step^2 / 12 and the best step about 1 / sqrt(lambda), so halving lambda,
  as the paper's bitrates do (256 .. 2048), is a step of sqrt(2). (The
  paper does not say how B is initialized; from a random one, B(y) ~ |y|
  makes the BALs random per element, and at our CPU budget the BAMs then
  learned to be the identity: the base rate, at every j.)
  """
  return 2.0 ** ((base_rate - rate) / 2.0)


class BitrateAdaptiveModule(nn.Module):
  """The four layers CBANet-HP adds for one non-base bitrate (Fig. 5)."""

  width: int
  step: float = 2.0

  def setup(self):
    self.bal_y = BitrateAdaptiveLayer(self.width, self.step)
    self.ibal_hyper = InverseBitrateAdaptiveLayer(self.width, self.step)
    self.bal_scales = BitrateAdaptiveLayer(self.width, self.step)
    self.ibal_y_hat = InverseBitrateAdaptiveLayer(self.width, self.step)

  # Decoder-side layers, by parameter name (see CBANetModel.decoder_parts).
  decoder_layers: ClassVar[tuple[str, ...]] = ("bal_scales", "ibal_y_hat")

  def __call__(self, y: jax.Array) -> jax.Array:
    """Runs every layer once (to create the parameters)."""
    return self.ibal_y_hat(self.bal_scales(self.ibal_hyper(self.bal_y(y))))


# The step the BALs into CBANet-AR's entropy parameters start with: nearly
# the identity (x 0.95; a BAL is a strict shrink). e is frozen and
# nonlinear, so no shrink of its inputs maps its base parameters to those
# of a quantizer step; left at the identity, e starts from the base's
# parameters, which training then fits to y_j.
ENTROPY_INPUT_STEP = 1.0 / 0.95


class ContextBitrateAdaptiveModule(nn.Module):
  """The five layers CBANet-AR adds for one non-base bitrate (Fig. 6): BAL_y,
  IBAL_h, IBAL_y^ (the quantizer: `step`), and the BALs on the hyper and
  context inputs of e (BAL_psi, BAL_phi; the latter causal, see the module
  docstring)."""

  width: int
  step: float = 2.0

  def setup(self):
    self.bal_y = BitrateAdaptiveLayer(self.width, self.step)
    self.ibal_hyper = InverseBitrateAdaptiveLayer(self.width, self.step)
    self.bal_hyper = BitrateAdaptiveLayer(self.width, ENTROPY_INPUT_STEP)
    self.bal_context = BitrateAdaptiveLayer(self.width, ENTROPY_INPUT_STEP, kernel_size=1)
    self.ibal_y_hat = InverseBitrateAdaptiveLayer(self.width, self.step)

  decoder_layers: ClassVar[tuple[str, ...]] = ("bal_hyper", "bal_context", "ibal_y_hat")

  def __call__(self, y: jax.Array, hyper: jax.Array, context: jax.Array) -> jax.Array:
    """Runs every layer once (to create the parameters)."""
    self.bal_hyper(hyper)
    self.bal_context(context)
    return self.ibal_y_hat(self.ibal_hyper(self.bal_y(y)))


class ComplexityAdaptiveModule(nn.Module):
  """CAM (Eqs. 6-7): y^_b (B, h, w, M) -> x^ (B, 16h, 16w, 3) with K branches.

  Eq. 7 writes one weight g_k per branch. Like the authors' code, each
  level K has its own weights for the branches below it (K=1: x_1;
  K=2: g21 x_1 + x_2; K=3: g31 x_1 + g32 x_2 + x_3), learned with branch K
  and initialized to 1: the stage that trains level K (Eq. 3, earlier
  branches frozen) can re-weigh their outputs for that level without
  changing the output of any lower level.
  """

  widths: tuple[int, ...]
  simplified_gdn: bool = False

  def setup(self):
    # Branches 2.. start with a zero output: level K starts as level K - 1
    # (gates at 1) and learns a refinement of it, instead of first undoing
    # a random image (from random ones, our CPU-scale K=2 and K=3 gained
    # only 0.11 and 0.02 dB over K=1).
    self.branches = [SynthesisTransform(w, simplified_gdn=self.simplified_gdn,
                                        zero_output=k > 0)
                     for k, w in enumerate(self.widths)]
    self.gates = [self.param(f"gates_{k}", nn.initializers.ones, (k - 1,))
                  for k in range(2, len(self.widths) + 1)]

  def branch_outputs(self, y_hat: jax.Array, count: int) -> list[jax.Array]:
    """x_1 .. x_count (Eq. 6)."""
    return [branch(y_hat) for branch in self.branches[:count]]

  def __call__(self, y_hat: jax.Array, num_branches: int) -> jax.Array:
    outputs = self.branch_outputs(y_hat, num_branches)
    if num_branches == 1:
      return outputs[0]
    gates = self.gates[num_branches - 2]
    return sum(g * x for g, x in zip(gates, outputs[:-1])) + outputs[-1]


class CBANetModel(nn.Module):
  """What CBANet-HP and CBANet-AR share: the levels (bitrate j, complexity K),
  the CAM, the BAMs' encoder and IBAL steps, the decoder's parts.

  Attributes: N and M of the base model, the number of supported bitrates
  (one BAM for each but the base), the BAM width P (Fig. 4: 192, 320 for
  M=320 models), the CAM's branch widths as fractions of N, and the level a
  call runs at unless told otherwise (rate, num_branches; None: the base
  bitrate, all branches), which also names a training stage
  (lic_jax.cbanet.recipe)."""

  num_filters: int = 128
  num_latents: int = 192
  num_rates: int = 4
  bam_width: int = 192
  branch_widths: tuple[float, ...] = BRANCH_WIDTHS
  simplified_gdn: bool = False
  rate: int | None = None
  num_branches: int | None = None

  downsampling: ClassVar[int] = 64
  # The baseline model whose encoder preparation (Sec. III-B) trains the
  # base parts, the attributes it shares, the base parts, and those of them
  # a decoder needs.
  baseline: ClassVar[str]
  baseline_attributes: ClassVar[tuple[str, ...]] = ("num_filters", "num_latents",
                                                    "simplified_gdn")
  base_parts: ClassVar[tuple[str, ...]]
  decoder_base_parts: ClassVar[tuple[str, ...]]
  bam_type: ClassVar[type[nn.Module]]

  def _setup_levels(self):
    self.cam = ComplexityAdaptiveModule(self.branch_channels, self.simplified_gdn)
    self.bams = [self.bam_type(self.bam_width, initial_step(j, self.base_rate))
                 for j in range(self.num_rates - 1)]

  @property
  def branch_channels(self) -> tuple[int, ...]:
    return tuple(int(self.num_filters * w) for w in self.branch_widths)

  @property
  def base_rate(self) -> int:
    return self.num_rates - 1

  @property
  def max_branches(self) -> int:
    return len(self.branch_widths)

  def level(self, rate: int | None = None, num_branches: int | None = None) -> tuple[int, int]:
    """(rate, K): the arguments, else the model's own level, else the base and K_max."""
    rate = next(r for r in (rate, self.rate, self.base_rate) if r is not None)
    num_branches = next(k for k in (num_branches, self.num_branches, self.max_branches)
                        if k is not None)
    self.check_level(rate, num_branches)
    return rate, num_branches

  def check_level(self, rate: int, num_branches: int) -> None:
    """A ValueError naming the problem unless (rate, K) is one this model has."""
    if not 0 <= rate < self.num_rates:
      raise ValueError(f"bitrate index {rate} does not exist: this model has bitrates "
                       f"0..{self.num_rates - 1} ({self.base_rate} is the base)")
    if not 1 <= num_branches <= self.max_branches:
      raise ValueError(f"complexity level K={num_branches} does not exist: this model has "
                       f"K=1..{self.max_branches}")

  def _bam(self, rate: int):
    return None if rate == self.base_rate else self.bams[rate]

  def hyper_analyze(self, y: jax.Array) -> jax.Array:
    """z of a base-rate y_b (h_a as the base model applies it)."""
    return self.hyperprior.analyze(y)

  def bitrate_latent(self, y: jax.Array, rate: int) -> tuple[jax.Array, jax.Array]:
    """(y_j, what h_a reads) of g_a's y_b at bitrate `rate`: BAL_y(y_b) and
    IBAL_h(y_j) (y_b twice at the base)."""
    bam = self._bam(rate)
    if bam is None:
      return y, y
    y_j = bam.bal_y(y)
    return y_j, bam.ibal_hyper(y_j)

  def analyze_hyper(self, y: jax.Array, rate: int) -> tuple[jax.Array, jax.Array]:
    """(y_j, z) of g_a's y_b at bitrate `rate`: BAL_y, then h_a through IBAL_h."""
    y_j, hyper_input = self.bitrate_latent(y, rate)
    return y_j, self.hyper_analyze(hyper_input)

  def inverse_bitrate(self, y_hat: jax.Array, rate: int) -> jax.Array:
    """y^_b of a bitrate's y~_j (Eq. 9; the identity at the base)."""
    bam = self._bam(rate)
    return y_hat if bam is None else bam.ibal_y_hat(y_hat)

  def coding_parameters(self, y_hat: jax.Array, z_hat: jax.Array, rate: int) -> jax.Array:
    """What the entropy model codes y~_j with, from z~ (and the context)."""
    raise NotImplementedError

  def decode(self, y_hat: jax.Array, z_hat: jax.Array, rate: int | None = None,
             num_branches: int | None = None) -> tuple[jax.Array, jax.Array]:
    """The decoder's networks at a level: (x^ from y~_j, coding_parameters)."""
    rate, num_branches = self.level(rate, num_branches)
    return (self.cam(self.inverse_bitrate(y_hat, rate), num_branches),
            self.coding_parameters(y_hat, z_hat, rate))

  def branch_outputs(self, y_hat_b: jax.Array) -> list[jax.Array]:
    """x_1 .. x_Kmax of Eq. 6 for a base-rate y^_b."""
    return self.cam.branch_outputs(y_hat_b, self.max_branches)

  def decoder_parts(self, rate: int | None = None,
                    num_branches: int | None = None) -> tuple[str, ...]:
    """The parameter parts a decoder of bitrate `rate` at level K needs."""
    rate, num_branches = self.level(rate, num_branches)
    parts = list(self.decoder_base_parts)
    parts += [f"cam/branches_{k}" for k in range(num_branches)]
    parts += [f"cam/gates_{num_branches}"] if num_branches > 1 else []
    if rate != self.base_rate:
      parts += [f"bams_{rate}/{layer}" for layer in self.bam_type.decoder_layers]
    return tuple(parts)

  def latents(self, y: jax.Array, rate: int, training: bool) -> tuple[jax.Array, dict]:
    """y~_j of g_a's y_b at bitrate `rate`, and the likelihoods of the
    latents (the entropy model of the base, through the BAM of `rate`)."""
    raise NotImplementedError

  def __call__(self, x: jax.Array, training: bool = False, rate: int | None = None,
               num_branches: int | None = None) -> dict:
    """x: (B, H, W, 3) in [0, 1], H and W multiples of 64; `rate` and
    `num_branches` (K) default to the model's level (see level())."""
    rate, num_branches = self.level(rate, num_branches)
    check_image_batch(x, self.downsampling)
    if self.is_initializing():
      # Every branch gets its parameters (latents(): every BAM too), and the
      # init runs at one level whatever the model's: every stage's model is
      # then one init executable, compiled once and then served by JAX's
      # compilation cache.
      rate, num_branches = self.base_rate, self.max_branches
    y_hat, likelihoods = self.latents(self.analysis(x), rate, training)
    return model_output(self.cam(self.inverse_bitrate(y_hat, rate), num_branches),
                        likelihoods)

  def aux_loss(self) -> jax.Array:
    return self.entropy_bottleneck.aux_loss()


class CBANetHP(CBANetModel):
  """CBANet on the scale hyperprior (Fig. 5); attributes: CBANetModel's."""

  baseline: ClassVar[str] = "bmshj2018"
  base_parts: ClassVar[tuple[str, ...]] = (
      "analysis", "hyper_analysis", "hyper_synthesis", "entropy_bottleneck")
  decoder_base_parts: ClassVar[tuple[str, ...]] = ("hyper_synthesis", "entropy_bottleneck")
  bam_type: ClassVar[type[nn.Module]] = BitrateAdaptiveModule

  def setup(self):
    self.analysis = AnalysisTransform(self.num_filters, self.num_latents, self.simplified_gdn)
    self.hyper_analysis = HyperAnalysisTransform(self.num_filters)
    self.hyper_synthesis = HyperSynthesisTransform(self.num_filters, self.num_latents)
    self.entropy_bottleneck = EntropyBottleneck(self.num_filters)
    self.gaussian_conditional = GaussianConditional()
    # The latent paths (lic_jax.coding.latent_codecs): z, and y_j's Gaussian.
    self.hyperprior = HyperpriorLatent(self.hyper_analysis, self.hyper_synthesis,
                                       self.entropy_bottleneck, magnitudes=True)
    nn.share_scope(self, self.hyperprior)
    self._setup_levels()

  def latents(self, y: jax.Array, rate: int, training: bool) -> tuple[jax.Array, dict]:
    """y~_j and the likelihoods of y~_j (scales BAL_sigma(h_s(z~))) and z~."""
    if self.is_initializing():  # every BAM gets its parameters
      for module in self.bams:
        module(y)
    y_j, hyper_input = self.bitrate_latent(y, rate)
    hyper, _, z_likelihood = self.hyperprior(hyper_input, training)
    scales = self.bitrate_scales(hyper, rate)
    y_hat, y_likelihood = self.gaussian_conditional(y_j, scales, training=training)
    return y_hat, {"y": y_likelihood, "z": z_likelihood}

  def bitrate_scales(self, scales: jax.Array, rate: int) -> jax.Array:
    """The scales of y~_j from the base's h_s(z~): BAL_sigma (Eq. 8; the
    identity at the base)."""
    bam = self._bam(rate)
    return scales if bam is None else bam.bal_scales(scales)

  def coding_parameters(self, y_hat: jax.Array, z_hat: jax.Array, rate: int) -> jax.Array:
    """The scales of y~_j: BAL_sigma(h_s(z~)) (h_s(z~) at the base)."""
    del y_hat
    return self.bitrate_scales(self.hyper_synthesis(z_hat), rate)


class CBANetAR(CBANetModel):
  """CBANet on the joint autoregressive and hierarchical priors (Fig. 6).

  Attributes: CBANetModel's, and mbt2018's hidden widths of e (default
  (10M/3, 8M/3)) and context kernel size. As in mbt2018, training feeds one
  noisy y~_j to the context model, the likelihood and the IBAL; evaluation
  computes the contexts from round(y_j) (the codec from the coded y~_j: see
  coded_bits)."""

  num_filters: int = 192
  num_latents: int = 320
  bam_width: int = 320
  entropy_hidden: tuple[int, ...] = ()
  context_kernel_size: int = 5

  baseline: ClassVar[str] = "mbt2018"
  baseline_attributes: ClassVar[tuple[str, ...]] = (
      *CBANetModel.baseline_attributes, "entropy_hidden", "context_kernel_size")
  base_parts: ClassVar[tuple[str, ...]] = (
      "analysis", "hyper_analysis", "hyper_synthesis", "context_prediction",
      "entropy_parameters", "entropy_bottleneck")
  decoder_base_parts: ClassVar[tuple[str, ...]] = (
      "hyper_synthesis", "context_prediction", "entropy_parameters", "entropy_bottleneck")
  bam_type: ClassVar[type[nn.Module]] = ContextBitrateAdaptiveModule

  def setup(self):
    self.analysis = AnalysisTransform(self.num_filters, self.num_latents, self.simplified_gdn)
    # mbt2018's entropy model and latent paths; at a bitrate other than the
    # base, each input of e passes its BAL (bitrate_hyper).
    setup_joint_prior(self)
    self._setup_levels()

  def bitrate_hyper(self, hyper: jax.Array, rate: int) -> tuple[jax.Array, Callable | None]:
    """e's hyper input at bitrate `rate` from h_s(z~), and what acts on the
    context before e: (BAL_psi(h_s(z~)), BAL_phi); (h_s(z~), None) at the base."""
    bam = self._bam(rate)
    if bam is None:
      return hyper, None
    return bam.bal_hyper(hyper), bam.bal_context

  def latent_parameters(self, y_hat: jax.Array, z_hat: jax.Array,
                        rate: int) -> tuple[jax.Array, jax.Array]:
    """(scales, means) of every element of y_j given the coded y~_j and z~."""
    return self.context_latent.parameters(
        y_hat, *self.bitrate_hyper(self.hyper_synthesis(z_hat), rate))

  def coding_parameters(self, y_hat: jax.Array, z_hat: jax.Array, rate: int) -> jax.Array:
    """The scales, then the means, of y~_j (..., 2M)."""
    return jnp.concatenate(self.latent_parameters(y_hat, z_hat, rate), axis=-1)

  def coded_bits(self, y_hat: jax.Array, z_hat: jax.Array,
                 rate: int | None = None) -> jax.Array:
    """Bits per image that the model assigns to coded latents (y~_j, z~) at
    bitrate `rate`: the rate the real codec should reach."""
    rate, _ = self.level(rate)
    return latent_bits(self, y_hat, z_hat, *self.latent_parameters(y_hat, z_hat, rate))

  def latents(self, y: jax.Array, rate: int, training: bool) -> tuple[jax.Array, dict]:
    """y~_j and the likelihoods of y~_j (in context, e's inputs through the
    BALs) and z~."""
    y_j, hyper_input = self.bitrate_latent(y, rate)
    hyper, _, z_likelihood = self.hyperprior(hyper_input, training)
    if self.is_initializing():  # every BAM gets its parameters
      for module in self.bams:
        module(y, hyper, self.context_prediction(y))
    hyper_j, context_transform = self.bitrate_hyper(hyper, rate)
    y_hat, y_likelihood = self.context_latent(y_j, hyper_j, training, context_transform)
    return y_hat, {"y": y_likelihood, "z": z_likelihood}
