"""Minnen, Balle & Toderici (2018): joint autoregressive and hierarchical priors.

Mean-scale hyperprior (`mbt2018_mean`):

    y = g_a(x);  z = h_a(y);  z~ = Q(z);  (sigma, mu) = h_s(z~)
    y~ = Q(y - mu) + mu;  x^ = g_s(y~)
    R = -sum log2 N(y~ | mu, sigma^2) * U(-1/2, 1/2) - sum log2 p(z~)

Joint model (`mbt2018`): the Gaussian parameters of y_i also depend on the
already-coded neighbours through a 5x5 masked convolution (mask 'A', raster
order) of y~:

    (sigma_i, mu_i) = e(h_s(z~)_i, c(y~_{<i}))

with e the 1x1-convolution entropy-parameters network. In training Q adds
uniform noise and one noisy y~ feeds the context model, the likelihood and
g_s alike. In evaluation the context is computed from round(y) (as in
CompressAI), since the exact y~ needs the sequential decoding order of
lic_jax.coding; the real codec computes every context from the coded y~
(see `latent_parameters`, which the codec's rate estimate uses too).

z's path is a HyperpriorLatent and the joint model's y a ContextLatent, the
float halves of the latent codecs that code them (lic_jax.coding.latent_codecs).
"""

from typing import ClassVar

import flax.linen as nn
import jax

from lic_jax.coding.latent_codecs import ContextLatent, HyperpriorLatent, split_scales_means
from lic_jax.entropy_models import EntropyBottleneck, GaussianConditional
from lic_jax.layers import MaskedConv
from lic_jax.models.base import bits_per_image, check_image_batch, model_output
from lic_jax.models.transforms import (
    AnalysisTransform, EntropyParameters, MeanScaleHyperAnalysis,
    MeanScaleHyperSynthesis, SynthesisTransform, entropy_widths)


def latent_bits(model: nn.Module, y_hat: jax.Array, z_hat: jax.Array, scales: jax.Array,
               means: jax.Array) -> jax.Array:
  """Bits per image of coded latents (y~, z~) under a model's Gaussian
  conditional (with these parameters of y~) and factorized prior of z~."""
  return bits_per_image({
      "y": model.gaussian_conditional.likelihood(y_hat, scales, means),
      "z": model.entropy_bottleneck.likelihood(z_hat)})


def setup_joint_prior(model: nn.Module,
                      context_latent: type[ContextLatent] = ContextLatent) -> None:
  """The joint prior's layers on `model` (called in its setup; it has
  num_filters, num_latents, entropy_hidden and context_kernel_size): h_a,
  h_s, the context c (a MaskedConv of the mask context_latent names), e,
  the bottleneck and the Gaussian conditional, and the latent paths over
  them (lic_jax.coding.latent_codecs): z, and y in context
  (`context_latent`: ContextLatent, raster; CheckerboardLatent)."""
  m = model.num_latents
  model.hyper_analysis = MeanScaleHyperAnalysis(model.num_filters)
  model.hyper_synthesis = MeanScaleHyperSynthesis(m)
  model.context_prediction = MaskedConv(2 * m, model.context_kernel_size,
                                        context_latent.mask_type, context_latent.context_bias)
  model.entropy_parameters = EntropyParameters(entropy_widths(m, model.entropy_hidden), 2 * m)
  model.entropy_bottleneck = EntropyBottleneck(model.num_filters)
  model.gaussian_conditional = GaussianConditional()
  model.hyperprior = HyperpriorLatent(model.hyper_analysis, model.hyper_synthesis,
                                      model.entropy_bottleneck)
  model.context_latent = context_latent(model.context_prediction, model.entropy_parameters,
                                        model.gaussian_conditional)
  nn.share_scope(model, model.hyperprior)
  nn.share_scope(model, model.context_latent)


class MeanScaleHyperprior(nn.Module):
  """Attributes: N (transform width) and M (latent channels)."""

  num_filters: int = 192
  num_latents: int = 192
  simplified_gdn: bool = False

  downsampling: ClassVar[int] = 64

  def setup(self):
    self.analysis = AnalysisTransform(self.num_filters, self.num_latents,
                                      self.simplified_gdn)
    self.synthesis = SynthesisTransform(self.num_filters,
                                        simplified_gdn=self.simplified_gdn)
    self.hyper_analysis = MeanScaleHyperAnalysis(self.num_filters)
    self.hyper_synthesis = MeanScaleHyperSynthesis(self.num_latents)
    self.entropy_bottleneck = EntropyBottleneck(self.num_filters)
    self.gaussian_conditional = GaussianConditional()
    # The latent paths (lic_jax.coding.latent_codecs): z, and y's Gaussian.
    self.hyperprior = HyperpriorLatent(self.hyper_analysis, self.hyper_synthesis,
                                       self.entropy_bottleneck)
    nn.share_scope(self, self.hyperprior)

  def __call__(self, x: jax.Array, training: bool = False) -> dict:
    """x: (B, H, W, 3) in [0, 1], H and W multiples of 64."""
    check_image_batch(x, self.downsampling)
    y = self.analysis(x)
    hyper, _, z_likelihood = self.hyperprior(y, training)
    scales, means = split_scales_means(hyper)
    y_hat, y_likelihood = self.gaussian_conditional(y, scales, means, training)
    return model_output(self.synthesis(y_hat), {"y": y_likelihood, "z": z_likelihood})

  def aux_loss(self) -> jax.Array:
    return self.entropy_bottleneck.aux_loss()


class JointAutoregressiveHierarchicalPriors(nn.Module):
  """Attributes: N, M, the hidden widths of the entropy-parameters network
  (default (10M/3, 8M/3): 640, 512 for M=192), and g_s's width if not N
  (CBANet's narrower baselines)."""

  num_filters: int = 192
  num_latents: int = 192
  entropy_hidden: tuple[int, ...] = ()
  context_kernel_size: int = 5
  simplified_gdn: bool = False
  synthesis_filters: int | None = None

  downsampling: ClassVar[int] = 64
  # The float half of y's context path, which names its order's mask
  # (lic_jax.coding.latent_codecs): raster here, a checkerboard in he2021.
  context_latent_type: ClassVar[type[ContextLatent]] = ContextLatent

  def setup(self):
    m = self.num_latents
    self.analysis = AnalysisTransform(self.num_filters, m, self.simplified_gdn)
    self.synthesis = SynthesisTransform(self.synthesis_filters or self.num_filters,
                                        simplified_gdn=self.simplified_gdn)
    setup_joint_prior(self, self.context_latent_type)

  def latent_parameters(self, y_hat: jax.Array, z_hat: jax.Array):
    """(scales, means) of every element of y given the coded y~ and z~."""
    return self.context_latent.parameters(y_hat, self.hyper_synthesis(z_hat))

  def coded_bits(self, y_hat: jax.Array, z_hat: jax.Array) -> jax.Array:
    """Bits per image that the model assigns to coded latents (y~, z~): the
    rate the real codec should reach, each context computed from y~."""
    return latent_bits(self, y_hat, z_hat, *self.latent_parameters(y_hat, z_hat))

  def __call__(self, x: jax.Array, training: bool = False) -> dict:
    """x: (B, H, W, 3) in [0, 1], H and W multiples of 64."""
    check_image_batch(x, self.downsampling)
    y = self.analysis(x)
    hyper, _, z_likelihood = self.hyperprior(y, training)
    y_hat, y_likelihood = self.context_latent(y, hyper, training)
    return model_output(self.synthesis(y_hat), {"y": y_likelihood, "z": z_likelihood})

  def aux_loss(self) -> jax.Array:
    return self.entropy_bottleneck.aux_loss()
