"""Analysis and synthesis transforms shared by the Balle / Minnen models.

Layer order as published (Balle 2018, figure 4; Minnen 2018, figure 4):

  g_a: conv5x5/2 N, GDN, conv5x5/2 N, GDN, conv5x5/2 N, GDN, conv5x5/2 M
  g_s: deconv5x5/2 N, IGDN, deconv5x5/2 N, IGDN, deconv5x5/2 N, IGDN, deconv5x5/2 3
  h_a: conv3x3/1 N, ReLU, conv5x5/2 N, ReLU, conv5x5/2 N
  h_s: deconv5x5/2 N, ReLU, deconv5x5/2 N, ReLU, conv3x3/1 M, ReLU

A stride-1 transposed convolution is an ordinary convolution, so the last
layer of h_s is written as one.
"""

import flax.linen as nn
import jax

from lic_jax.layers import GDN, IGDN, Conv, ConvTranspose


class AnalysisTransform(nn.Module):
  """g_a: image (B, H, W, 3) -> latent (B, H/16, W/16, M)."""

  num_filters: int
  num_latents: int
  simplified_gdn: bool = False

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for _ in range(3):
      x = Conv(self.num_filters)(x)
      x = GDN(simplified=self.simplified_gdn)(x)
    return Conv(self.num_latents)(x)


class SynthesisTransform(nn.Module):
  """g_s: latent (B, h, w, M) -> image (B, 16h, 16w, 3)."""

  num_filters: int
  num_channels: int = 3
  simplified_gdn: bool = False

  @nn.compact
  def __call__(self, y: jax.Array) -> jax.Array:
    for _ in range(3):
      y = ConvTranspose(self.num_filters)(y)
      y = IGDN(simplified=self.simplified_gdn)(y)
    return ConvTranspose(self.num_channels)(y)


class HyperAnalysisTransform(nn.Module):
  """h_a: latent (B, h, w, M) -> hyper-latent (B, h/4, w/4, N)."""

  num_filters: int

  @nn.compact
  def __call__(self, y: jax.Array) -> jax.Array:
    z = nn.relu(Conv(self.num_filters, kernel_size=3, stride=1)(y))
    z = nn.relu(Conv(self.num_filters)(z))
    return Conv(self.num_filters)(z)


class HyperSynthesisTransform(nn.Module):
  """h_s: hyper-latent (B, h/4, w/4, N) -> (B, h, w, num_outputs)."""

  num_filters: int
  num_outputs: int
  final_relu: bool = True

  @nn.compact
  def __call__(self, z: jax.Array) -> jax.Array:
    z = nn.relu(ConvTranspose(self.num_filters)(z))
    z = nn.relu(ConvTranspose(self.num_filters)(z))
    z = Conv(self.num_outputs, kernel_size=3, stride=1)(z)
    return nn.relu(z) if self.final_relu else z
