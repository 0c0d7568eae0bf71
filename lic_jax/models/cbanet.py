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

Bitrates are indexed j = 0 .. num_rates - 1 in increasing rate; the base is
j = num_rates - 1 (the paper's j = M).
"""

import math
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from lic_jax.entropy_models import EntropyBottleneck, GaussianConditional
from lic_jax.models.base import check_image_batch, model_output
from lic_jax.models.transforms import (
    AnalysisTransform, HyperAnalysisTransform, HyperSynthesisTransform,
    SynthesisTransform, leaky_relu)

# The CAM's branch widths as fractions of N (the authors' code: N=128 gives
# 60, 60 and 88 channels, about 24 / 24 / 52 % of the CAM's FLOPs).
BRANCH_WIDTHS = (0.47, 0.47, 0.69)


class BitrateCNN(nn.Module):
  """B of Fig. 4: conv1x1 C->P, LeakyReLU, depthwise 5x5, depthwise 5x5, conv1x1 P->C.

  The last layer starts at zero weights and the bias `output`: B starts as
  the constant `output`, whatever its input (see BitrateAdaptiveModule)."""

  width: int
  output: float = 0.0

  @nn.compact
  def __call__(self, y: jax.Array) -> jax.Array:
    channels = y.shape[-1]
    h = leaky_relu(nn.Conv(self.width, (1, 1))(y))
    h = nn.Conv(self.width, (5, 5), padding=2, feature_group_count=self.width)(h)
    h = nn.Conv(self.width, (5, 5), padding=2, feature_group_count=self.width)(h)
    return nn.Conv(channels, (1, 1), kernel_init=nn.initializers.zeros,
                   bias_init=nn.initializers.constant(self.output))(h)


class BitrateAdaptiveLayer(nn.Module):
  """BAL (Eq. 8): y_b -> y_j, an elementwise shrink in (0, 1); starts as y_b / step."""

  width: int
  step: float = 2.0

  @nn.compact
  def __call__(self, y: jax.Array) -> jax.Array:
    # 1 - sigmoid(log(step - 1)) = 1 / step.
    return y * (1.0 - nn.sigmoid(BitrateCNN(self.width, math.log(self.step - 1.0))(y)))


class InverseBitrateAdaptiveLayer(nn.Module):
  """IBAL (Eq. 9): y^_j -> y^_b, an elementwise gain >= 1; starts as step * y^_j."""

  width: int
  step: float = 2.0

  @nn.compact
  def __call__(self, y: jax.Array) -> jax.Array:
    return y * (1.0 + nn.relu(BitrateCNN(self.width, self.step - 1.0)(y)))


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

  # Decoder-side layers, by parameter name (see CBANetHP.decoder_parts).
  decoder_layers: ClassVar[tuple[str, ...]] = ("bal_scales", "ibal_y_hat")

  def __call__(self, y: jax.Array) -> jax.Array:
    """Runs every layer once (to create the parameters)."""
    return self.ibal_y_hat(self.bal_scales(self.ibal_hyper(self.bal_y(y))))


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


class CBANetHP(nn.Module):
  """Attributes: N and M of the base hyperprior, the number of supported
  bitrates (one BAM for each but the base), the BAM width P (Fig. 4: 192,
  320 for M=320 models), the CAM's branch widths as fractions of N, and
  the level a call runs at unless told otherwise (rate, num_branches; None:
  the base bitrate, all branches), which also names a training stage
  (lic_jax.recipes.cbanet)."""

  num_filters: int = 128
  num_latents: int = 192
  num_rates: int = 4
  bam_width: int = 192
  branch_widths: tuple[float, ...] = BRANCH_WIDTHS
  simplified_gdn: bool = False
  rate: int | None = None
  num_branches: int | None = None

  downsampling: ClassVar[int] = 64

  def setup(self):
    self.analysis = AnalysisTransform(self.num_filters, self.num_latents, self.simplified_gdn)
    self.hyper_analysis = HyperAnalysisTransform(self.num_filters)
    self.hyper_synthesis = HyperSynthesisTransform(self.num_filters, self.num_latents)
    self.entropy_bottleneck = EntropyBottleneck(self.num_filters)
    self.gaussian_conditional = GaussianConditional()
    self.cam = ComplexityAdaptiveModule(self.branch_channels, self.simplified_gdn)
    self.bams = [BitrateAdaptiveModule(self.bam_width, initial_step(j, self.base_rate))
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

  def _bam(self, rate: int) -> BitrateAdaptiveModule | None:
    return None if rate == self.base_rate else self.bams[rate]

  def __call__(self, x: jax.Array, training: bool = False, rate: int | None = None,
               num_branches: int | None = None) -> dict:
    """x: (B, H, W, 3) in [0, 1], H and W multiples of 64; `rate` and
    `num_branches` (K) default to the model's level (see level())."""
    rate, num_branches = self.level(rate, num_branches)
    check_image_batch(x, self.downsampling)
    bam = self._bam(rate)
    y = self.analysis(x)
    if self.is_initializing():  # every BAM and branch gets its parameters
      for module in self.bams:
        module(y)
    y_j, z = self.analyze_hyper(y, rate)
    z_hat, z_likelihood = self.entropy_bottleneck(z, training)
    scales = self.hyper_synthesis(z_hat)
    scales = scales if bam is None else bam.bal_scales(scales)
    y_hat, y_likelihood = self.gaussian_conditional(y_j, scales, training=training)
    y_hat_b = self.inverse_bitrate(y_hat, rate)
    if self.is_initializing():
      self.cam(y_hat_b, self.max_branches)
    x_hat = self.cam(y_hat_b, num_branches)
    return model_output(x_hat, {"y": y_likelihood, "z": z_likelihood})

  def analyze_hyper(self, y: jax.Array, rate: int) -> tuple[jax.Array, jax.Array]:
    """(y_j, z) of g_a's y_b at bitrate `rate`: BAL_y, then h_a through IBAL_h."""
    bam = self._bam(rate)
    if bam is None:
      return y, self.hyper_analysis(jnp.abs(y))
    y_j = bam.bal_y(y)
    return y_j, self.hyper_analysis(jnp.abs(bam.ibal_hyper(y_j)))

  def inverse_bitrate(self, y_hat: jax.Array, rate: int) -> jax.Array:
    """y^_b of a bitrate's y~_j (Eq. 9; the identity at the base)."""
    bam = self._bam(rate)
    return y_hat if bam is None else bam.ibal_y_hat(y_hat)

  def decode(self, y_hat: jax.Array, z_hat: jax.Array, rate: int | None = None,
             num_branches: int | None = None) -> tuple[jax.Array, jax.Array]:
    """The decoder's networks at a level: (x^ from y~_j, the scales of y~_j from z~)."""
    rate, num_branches = self.level(rate, num_branches)
    bam = self._bam(rate)
    scales = self.hyper_synthesis(z_hat)
    scales = scales if bam is None else bam.bal_scales(scales)
    return self.cam(self.inverse_bitrate(y_hat, rate), num_branches), scales

  def branch_outputs(self, y_hat_b: jax.Array) -> list[jax.Array]:
    """x_1 .. x_Kmax of Eq. 6 for a base-rate y^_b."""
    return self.cam.branch_outputs(y_hat_b, self.max_branches)

  def decoder_parts(self, rate: int | None = None,
                    num_branches: int | None = None) -> tuple[str, ...]:
    """The parameter parts a decoder of bitrate `rate` at level K needs."""
    rate, num_branches = self.level(rate, num_branches)
    parts = ["hyper_synthesis", "entropy_bottleneck"]
    parts += [f"cam/branches_{k}" for k in range(num_branches)]
    parts += [f"cam/gates_{num_branches}"] if num_branches > 1 else []
    if rate != self.base_rate:
      parts += [f"bams_{rate}/{layer}" for layer in BitrateAdaptiveModule.decoder_layers]
    return tuple(parts)

  def aux_loss(self) -> jax.Array:
    return self.entropy_bottleneck.aux_loss()
