"""Balle, Minnen, Singh, Hwang & Johnston (2018): scale hyperprior.

    y = g_a(x);  z = h_a(|y|);  z~ = Q(z);  sigma = h_s(z~)
    y~ = Q(y);   x^ = g_s(y~)
    R = -sum log2 p(y~ | sigma) - sum log2 p(z~)

with p(y~ | sigma) a zero-mean Gaussian convolved with a unit box and p(z~)
the factorized entropy bottleneck. z~ is side information sent first. z's
path is a HyperpriorLatent, the float half of the latent codec that codes
it (lic_jax.coding.latent_codecs).
"""

from typing import ClassVar

import flax.linen as nn
import jax

from lic_jax.coding.latent_codecs import HyperpriorLatent
from lic_jax.entropy_models import EntropyBottleneck, GaussianConditional
from lic_jax.models.base import check_image_batch, model_output
from lic_jax.models.transforms import (
    AnalysisTransform, HyperAnalysisTransform, HyperSynthesisTransform,
    SynthesisTransform)


class ScaleHyperprior(nn.Module):
  """Attributes: N (transform width), M (latent channels) and optionally
  a narrower width of g_s alone.

  The paper uses N=128, M=192 for the lower and N=192, M=320 for the
  higher rates.
  """

  num_filters: int = 128
  num_latents: int = 192
  simplified_gdn: bool = False
  # g_s alone narrower (None: N), as CBANet's baselines of 60 and 88
  # channels are: the hyper networks keep N.
  synthesis_filters: int | None = None

  downsampling: ClassVar[int] = 64

  def setup(self):
    self.analysis = AnalysisTransform(
        self.num_filters, self.num_latents, self.simplified_gdn)
    self.synthesis = SynthesisTransform(
        self.synthesis_filters or self.num_filters, simplified_gdn=self.simplified_gdn)
    self.hyper_analysis = HyperAnalysisTransform(self.num_filters)
    self.hyper_synthesis = HyperSynthesisTransform(
        self.num_filters, self.num_latents)
    self.entropy_bottleneck = EntropyBottleneck(self.num_filters)
    self.gaussian_conditional = GaussianConditional()
    # The latent paths (lic_jax.coding.latent_codecs): z, and y's Gaussian.
    self.hyperprior = HyperpriorLatent(self.hyper_analysis, self.hyper_synthesis,
                                       self.entropy_bottleneck, magnitudes=True)
    nn.share_scope(self, self.hyperprior)

  def __call__(self, x: jax.Array, training: bool = False) -> dict:
    """x: (B, H, W, 3) in [0, 1], H and W multiples of 64."""
    check_image_batch(x, self.downsampling)
    y = self.analysis(x)
    scales, _, z_likelihood = self.hyperprior(y, training)
    y_hat, y_likelihood = self.gaussian_conditional(y, scales, training=training)
    return model_output(self.synthesis(y_hat), {"y": y_likelihood, "z": z_likelihood})

  def decode(self, y_hat: jax.Array, z_hat: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The decoder's networks: (x^ = g_s(y~), sigma = h_s(z~))."""
    return self.synthesis(y_hat), self.hyper_synthesis(z_hat)

  def decoder_parts(self) -> tuple[str, ...]:
    """The parameter parts a decoder needs (lic_jax.complexity)."""
    return ("synthesis", "hyper_synthesis", "entropy_bottleneck")

  def aux_loss(self) -> jax.Array:
    return self.entropy_bottleneck.aux_loss()
