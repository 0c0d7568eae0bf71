"""Analysis and synthesis transforms shared by the Balle / Minnen models.

Layer order as published (Balle 2018, figure 4; Minnen 2018, figure 4):

  g_a: conv5x5/2 N, GDN, conv5x5/2 N, GDN, conv5x5/2 N, GDN, conv5x5/2 M
  g_s: deconv5x5/2 N, IGDN, deconv5x5/2 N, IGDN, deconv5x5/2 N, IGDN, deconv5x5/2 3
  h_a: conv3x3/1 N, ReLU, conv5x5/2 N, ReLU, conv5x5/2 N
  h_s: deconv5x5/2 N, ReLU, deconv5x5/2 N, ReLU, conv3x3/1 M, ReLU

Minnen 2018 (figure 4) predicts means as well as scales, so its hyper
transforms use leaky ReLUs, h_a sees y itself (not |y|), and h_s ends with
2M channels (scales, then means):

  h_a: conv3x3/1 N, LReLU, conv5x5/2 N, LReLU, conv5x5/2 N
  h_s: deconv5x5/2 M, LReLU, deconv5x5/2 3M/2, LReLU, conv3x3/1 2M
  entropy parameters (joint model): 1x1 convs 10M/3, LReLU, 8M/3, LReLU, 2M

A stride-1 transposed convolution is an ordinary convolution, so the last
layer of h_s is written as one.
"""

from collections.abc import Sequence

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
  zero_output: bool = False  # the last layer starts at zero (a CBANet branch)

  @nn.compact
  def __call__(self, y: jax.Array) -> jax.Array:
    for _ in range(3):
      y = ConvTranspose(self.num_filters)(y)
      y = IGDN(simplified=self.simplified_gdn)(y)
    last_init = nn.initializers.zeros if self.zero_output else nn.initializers.lecun_normal()
    return ConvTranspose(self.num_channels, kernel_init=last_init)(y)


class HyperAnalysisTransform(nn.Module):
  """h_a: latent (B, h, w, M) -> hyper-latent (B, h/4, w/4, N)."""

  num_filters: int

  @nn.compact
  def __call__(self, y: jax.Array) -> jax.Array:
    z = nn.relu(Conv(self.num_filters, kernel_size=3, stride=1)(y))
    z = nn.relu(Conv(self.num_filters)(z))
    return Conv(self.num_filters)(z)


# The layers of h_s and of e by name, the names the codecs' integer networks
# read them by (lic_jax.coding.latent_codecs). They are the names Flax gave
# these layers automatically before they were named here, so that every
# checkpoint and bundled model loads unchanged.
HYPER_SYNTHESIS_LAYERS = ("ConvTranspose_0", "ConvTranspose_1", "Conv_0")


def entropy_parameters_layers(num_layers: int) -> tuple[str, ...]:
  """The names of e's 1x1 convolutions, first to last."""
  return tuple(f"Conv_{i}" for i in range(num_layers))


def entropy_widths(num_latents: int, hidden: Sequence[int] = ()) -> tuple[int, ...]:
  """The hidden widths of e: `hidden`, default (10M/3, 8M/3) (Minnen 2018)."""
  return tuple(hidden) or (num_latents * 10 // 3, num_latents * 8 // 3)


class HyperSynthesisTransform(nn.Module):
  """h_s: hyper-latent (B, h/4, w/4, N) -> (B, h, w, num_outputs)."""

  num_filters: int
  num_outputs: int
  final_relu: bool = True

  @nn.compact
  def __call__(self, z: jax.Array) -> jax.Array:
    first, second, last = HYPER_SYNTHESIS_LAYERS
    z = nn.relu(ConvTranspose(self.num_filters, name=first)(z))
    z = nn.relu(ConvTranspose(self.num_filters, name=second)(z))
    z = Conv(self.num_outputs, kernel_size=3, stride=1, name=last)(z)
    return nn.relu(z) if self.final_relu else z


# PyTorch's (and CompressAI's) default negative slope.
LEAKY_RELU_SLOPE = 0.01


def leaky_relu(x: jax.Array) -> jax.Array:
  return nn.leaky_relu(x, LEAKY_RELU_SLOPE)


class MeanScaleHyperAnalysis(nn.Module):
  """Minnen's h_a: latent (B, h, w, M) -> hyper-latent (B, h/4, w/4, N)."""

  num_filters: int

  @nn.compact
  def __call__(self, y: jax.Array) -> jax.Array:
    z = leaky_relu(Conv(self.num_filters, kernel_size=3, stride=1)(y))
    z = leaky_relu(Conv(self.num_filters)(z))
    return Conv(self.num_filters)(z)


class MeanScaleHyperSynthesis(nn.Module):
  """Minnen's h_s: hyper-latent (B, h/4, w/4, N) -> (B, h, w, 2M)."""

  num_latents: int

  @nn.compact
  def __call__(self, z: jax.Array) -> jax.Array:
    m = self.num_latents
    first, second, last = HYPER_SYNTHESIS_LAYERS
    z = leaky_relu(ConvTranspose(m, name=first)(z))
    z = leaky_relu(ConvTranspose(m * 3 // 2, name=second)(z))
    return Conv(2 * m, kernel_size=3, stride=1, name=last)(z)


class EntropyParameters(nn.Module):
  """1x1 convolutions (hyper params ++ context) -> (B, h, w, num_outputs)."""

  hidden: Sequence[int]
  num_outputs: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    *hidden, last = entropy_parameters_layers(len(self.hidden) + 1)
    for width, name in zip(self.hidden, hidden):
      x = leaky_relu(Conv(width, kernel_size=1, stride=1, name=name)(x))
    return Conv(self.num_outputs, kernel_size=1, stride=1, name=last)(x)
