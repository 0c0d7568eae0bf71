"""Minnen & Singh (2020): channel-wise autoregressive entropy models for
learned image compression, with latent residual prediction.

    y = g_a(x);  z = h_a(y);  z~ = Q(z)
    (phi_sigma, phi_mu) = (h_s^sigma(z~), h_s^mu(z~))       hyper features
    y is split into S slices of channels y_1 .. y_S; for slice i, with the
    support s_i = (y^_1 .. y^_min(i-1, K)) of the slices before it:
      mu_i = f_i^mu(phi_mu, s_i);   sigma_i = f_i^sigma(phi_sigma, s_i)
      y~_i = Q(y_i - mu_i) + mu_i
      y^_i = y~_i + 0.5 tanh(r_i(phi_mu, s_i, y~_i))        latent residual
    x^ = g_s(y^)
    R = -sum_i log2 N(y~_i | mu_i, sigma_i^2) * U(-1/2, 1/2) - sum log2 p(z~)

The paper's model: S = 10 slices, support of at most K = 5 slices, g_a and
g_s of Balle et al. (N = 192 wide, M = 320 latents), and (as in the
authors' code, tensorflow-compression's models/ms2020.py)
  h_a:         conv3x3/1 M, ReLU, conv5x5/2 (M+N)/2, ReLU, conv5x5/2 N
  h_s^mu, ^sigma: deconv5x5/2 N, ReLU, deconv5x5/2 (M+N)/2, ReLU, conv3x3/1 M, ReLU
  f_i^mu, f_i^sigma, r_i: conv5x5/1 7M/10, ReLU, conv5x5/1 2M/5, ReLU,
               conv3x3/1 |y_i|
(320, 256, 192; 192, 256, 320; 224, 128 at the paper's widths). Training
feeds y~ = round(y - mu) + mu to the support and g_s with the straight-
through gradient and rates the noisy y + u, as the authors' code does.

Departures from the authors' code:
  - f_i^sigma predicts sigma itself, coded with the table of the nearest
    scale (as every model here), where the authors' predicts an index into
    their table of scales;
  - the hyper networks and the slice networks have biases everywhere (the
    authors' h_a ends without one);
  - the codec's 0.5 tanh is a stored table at steps of 2^-8 of r_i
    (lic_jax.coding.latent_codecs.half_tanh_table).
Where M does not divide into S, the slices differ by one channel, the wider
first (lic_jax.coding.latent_codecs.channel_slices).
"""

from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from lic_jax.coding.latent_codecs import ChannelSlicesLatent, HyperpriorLatent, channel_slices
from lic_jax.entropy_models import EntropyBottleneck, GaussianConditional
from lic_jax.layers import Conv, ConvTranspose
from lic_jax.models.base import bits_per_image, check_image_batch, model_output
from lic_jax.models.transforms import HYPER_SYNTHESIS_LAYERS, AnalysisTransform, SynthesisTransform

# The layers of the slice networks (f_i^mu, f_i^sigma, r_i) by name, as the
# codec reads them.
SLICE_TRANSFORM_LAYERS = ("Conv_0", "Conv_1", "Conv_2")


def hyper_widths(num_filters: int, num_latents: int) -> tuple[int, int, int]:
  """h_a's widths (M, (M+N)/2, N); h_s's are the reverse."""
  return num_latents, (num_latents + num_filters) // 2, num_filters


def slice_transform_widths(num_latents: int) -> tuple[int, int]:
  """The hidden widths of the slice networks: 7M/10, 2M/5 (224, 128 for M = 320)."""
  return num_latents * 7 // 10, num_latents * 2 // 5


class ChannelwiseHyperAnalysis(nn.Module):
  """h_a: latent (B, h, w, M) -> hyper-latent (B, h/4, w/4, N)."""

  widths: tuple[int, int, int]

  @nn.compact
  def __call__(self, y: jax.Array) -> jax.Array:
    first, second, last = self.widths
    z = nn.relu(Conv(first, kernel_size=3, stride=1)(y))
    z = nn.relu(Conv(second)(z))
    return Conv(last)(z)


class HyperSynthesisBranch(nn.Module):
  """One h_s (of the means' or the scales' features): hyper-latent
  (B, h/4, w/4, N) -> (B, h, w, M), a ReLU after every layer."""

  widths: tuple[int, int, int]

  @nn.compact
  def __call__(self, z: jax.Array) -> jax.Array:
    first, second, last = HYPER_SYNTHESIS_LAYERS
    z = nn.relu(ConvTranspose(self.widths[0], name=first)(z))
    z = nn.relu(ConvTranspose(self.widths[1], name=second)(z))
    return nn.relu(Conv(self.widths[2], kernel_size=3, stride=1, name=last)(z))


class ChannelwiseHyperSynthesis(nn.Module):
  """Both h_s on z~: (B, h, w, 2M), the scales' features, then the means'
  (the order of the mean-scale models' h_s outputs)."""

  widths: tuple[int, int, int]

  def setup(self):
    self.scales = HyperSynthesisBranch(self.widths)
    self.means = HyperSynthesisBranch(self.widths)

  def __call__(self, z: jax.Array) -> jax.Array:
    return jnp.concatenate([self.scales(z), self.means(z)], axis=-1)


class SliceTransform(nn.Module):
  """f_i^mu, f_i^sigma or r_i: (B, h, w, C) -> (B, h, w, outputs), stride 1."""

  hidden: tuple[int, int]
  outputs: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    first, second, last = SLICE_TRANSFORM_LAYERS
    x = nn.relu(Conv(self.hidden[0], kernel_size=5, stride=1, name=first)(x))
    x = nn.relu(Conv(self.hidden[1], kernel_size=5, stride=1, name=second)(x))
    return Conv(self.outputs, kernel_size=3, stride=1, name=last)(x)


class ChannelwiseAutoregressive(nn.Module):
  """Attributes: N (transform width), M (latent channels), the number of
  slices S and the most slices K a slice's support holds."""

  num_filters: int = 192
  num_latents: int = 320
  num_slices: int = 10
  max_support_slices: int = 5
  simplified_gdn: bool = False

  downsampling: ClassVar[int] = 64
  # The codec's latent that coded_bits rates: the symbols q (a slice's y^
  # holds its residual, which the symbols' likelihood does not see).
  coded_latent: ClassVar[str] = "y"

  def setup(self):
    n, m = self.num_filters, self.num_latents
    slices = channel_slices(m, self.num_slices)
    widths = hyper_widths(n, m)
    self.analysis = AnalysisTransform(n, m, self.simplified_gdn)
    self.synthesis = SynthesisTransform(n, simplified_gdn=self.simplified_gdn)
    self.hyper_analysis = ChannelwiseHyperAnalysis(widths)
    self.hyper_synthesis = ChannelwiseHyperSynthesis(widths[::-1])
    self.entropy_bottleneck = EntropyBottleneck(n)
    self.gaussian_conditional = GaussianConditional()
    hidden = slice_transform_widths(m)
    self.mean_transforms = [SliceTransform(hidden, c) for c in slices]
    self.scale_transforms = [SliceTransform(hidden, c) for c in slices]
    self.residual_transforms = [SliceTransform(hidden, c) for c in slices]
    # The latent paths (lic_jax.coding.latent_codecs): z, and y's slices.
    self.hyperprior = HyperpriorLatent(self.hyper_analysis, self.hyper_synthesis,
                                       self.entropy_bottleneck)
    self.slices_latent = ChannelSlicesLatent(
        self.mean_transforms, self.scale_transforms, self.residual_transforms,
        self.gaussian_conditional, slices, self.max_support_slices)
    nn.share_scope(self, self.hyperprior)
    nn.share_scope(self, self.slices_latent)

  def coded_bits(self, q: jax.Array, z_hat: jax.Array) -> jax.Array:
    """Bits per image that the model assigns to the coded symbols q of y and
    z~: the rate the real codec should reach."""
    _, y_likelihood = self.slices_latent.symbols(q, self.hyper_synthesis(z_hat))
    return bits_per_image({"y": y_likelihood, "z": self.entropy_bottleneck.likelihood(z_hat)})

  def __call__(self, x: jax.Array, training: bool = False) -> dict:
    """x: (B, H, W, 3) in [0, 1], H and W multiples of 64."""
    check_image_batch(x, self.downsampling)
    y = self.analysis(x)
    hyper, _, z_likelihood = self.hyperprior(y, training)
    y_hat, y_likelihood = self.slices_latent(y, hyper, training)
    return model_output(self.synthesis(y_hat), {"y": y_likelihood, "z": z_likelihood})

  def aux_loss(self) -> jax.Array:
    return self.entropy_bottleneck.aux_loss()
