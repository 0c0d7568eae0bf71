"""Balle, Laparra & Simoncelli (2017): factorized-prior image compression.

    y = g_a(x);  y~ = Q(y);  x^ = g_s(y~);  R = -sum log2 p(y~)

with p a deep factorized density per channel of y (the entropy bottleneck).
"""

from typing import ClassVar

import flax.linen as nn
import jax

from lic_jax.entropy_models import EntropyBottleneck
from lic_jax.models.base import check_image_batch, model_output
from lic_jax.models.transforms import AnalysisTransform, SynthesisTransform


class FactorizedPrior(nn.Module):
  """Attributes: N (transform width) and M (latent channels)."""

  num_filters: int = 128
  num_latents: int = 128
  simplified_gdn: bool = False

  downsampling: ClassVar[int] = 16

  def setup(self):
    self.analysis = AnalysisTransform(
        self.num_filters, self.num_latents, self.simplified_gdn)
    self.synthesis = SynthesisTransform(
        self.num_filters, simplified_gdn=self.simplified_gdn)
    self.entropy_bottleneck = EntropyBottleneck(self.num_latents)

  def __call__(self, x: jax.Array, training: bool = False) -> dict:
    """x: (B, H, W, 3) in [0, 1], H and W multiples of 16."""
    check_image_batch(x, self.downsampling)
    y = self.analysis(x)
    y_hat, y_likelihood = self.entropy_bottleneck(y, training)
    return model_output(self.synthesis(y_hat), {"y": y_likelihood})

  def aux_loss(self) -> jax.Array:
    return self.entropy_bottleneck.aux_loss()
