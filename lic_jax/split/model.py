"""Datta et al. (Intel Labs): bottleneck units for split computing.

A classifier pretrained on its task (the backbone, a lic_jax.models.resnet
ResNet) is split after a named block (its *split point*, Table II). The
client runs the head and a bottleneck encoder, quantizes its output and
sends it; the server runs the mirrored bottleneck decoder and the tail:

    f = head(x)                        H x W x C, the split point's features
    y = E(f)                           ceil(H/S) x ceil(W/S) x Cr    (Sec. III-A)
    s = round(y / Q)                   the integer symbols sent      (Sec. II)
    f^ = relu(D(Q s))                  H x W x C again
    logits = tail(f^)

E is a depthwise 3x3 convolution of stride S (padding 1, so any H gives
ceil(H/S) rows) followed by a pointwise 1x1 convolution to Cr channels: one
depthwise-separable layer, the paper's choice of fewest parameters and
multiply-adds. D mirrors it: pointwise 1x1 back to C channels, then a
depthwise transposed convolution of stride S, computed in the sub-pixel form
of lic_jax.layers.conv and cropped to H x W. Its kernel is max(3, S) wide,
because a 3-tap kernel leaves output phases of a stride above 3 without
any tap. The final ReLU returns the features to the domain of the block
outputs the tail was trained on (they are ReLU outputs).

Rounding is real in the forward pass and the identity in the backward pass
(straight-through, Sec. II). Only the unit trains (Sec. III-B): the backbone
runs on its batch-norm running averages and its parameters are frozen by the
recipe (lic_jax.split.recipe). The rate term of L = Lr + alpha Lt (Eq. 1) is
either the paper's proxy, the l1 norm of the quantized encoder output, or,
as an option, the bits of the symbols under a learned factorized entropy
model (Balle et al.'s entropy bottleneck over the Cr channels).
"""

from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from lic_jax.entropy_models import EntropyBottleneck
from lic_jax.layers.conv import phase_conv_transpose
from lic_jax.layers.rounding import ste_round
from lic_jax.models.resnet import NETWORKS

RATE_MODELS = ("l1", "entropy")


def reduced_size(size: int, stride: int) -> int:
  """ceil(size / stride): the encoder's output size along one axis."""
  return -(-size // stride)


class DepthwiseUpsample(nn.Module):
  """Per-channel k x k transposed convolution, H x W -> sH x sW (sub-pixel form)."""

  kernel_size: int
  stride: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    channels, k = x.shape[-1], self.kernel_size
    kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, k, 1, channels))
    bias = self.param("bias", nn.initializers.zeros_init(), (channels,))
    return phase_conv_transpose(x, kernel, self.stride, groups=channels) + bias


class BottleneckUnit(nn.Module):
  """Encoder E, quantizer and decoder D at a split point of `features` channels.

  Attributes: features (C of the split point), channels (Cr), stride (S),
  step (the quantization step Q), rate_model ('l1' or 'entropy', which adds
  the entropy bottleneck over the Cr channels).
  """

  features: int
  channels: int
  stride: int
  step: float
  rate_model: str = "l1"

  def setup(self):
    s = self.stride
    self.encoder_depthwise = nn.Conv(self.features, (3, 3), (s, s), padding=((1, 1), (1, 1)),
                                     feature_group_count=self.features)
    self.encoder_pointwise = nn.Conv(self.channels, (1, 1))
    self.decoder_pointwise = nn.Conv(self.features, (1, 1))
    self.decoder_depthwise = DepthwiseUpsample(max(3, s), s)
    if self.rate_model == "entropy":
      self.entropy_bottleneck = EntropyBottleneck(self.channels)

  def encode(self, features: jax.Array) -> jax.Array:
    """y = E(f), (B, ceil(H/S), ceil(W/S), Cr)."""
    if features.shape[-1] != self.features:
      raise ValueError(f"the unit takes features of {self.features} channels, got "
                       f"{features.shape}")
    return self.encoder_pointwise(self.encoder_depthwise(features))

  def quantize(self, y: jax.Array) -> jax.Array:
    """The symbols round(y / Q), as floats, with straight-through gradients."""
    return ste_round(y / self.step)

  def decode(self, symbols: jax.Array, height: int, width: int) -> jax.Array:
    """f^ = relu(D(Q s)) of (B, height, width, C)."""
    up = self.decoder_depthwise(self.decoder_pointwise(symbols * self.step))
    return nn.relu(up[:, :height, :width])

  def rate(self, symbols: jax.Array) -> jax.Array:
    """Per image: the l1 norm of the symbols ('l1'), or their bits under the
    entropy bottleneck ('entropy')."""
    if self.rate_model == "l1":
      return jnp.sum(jnp.abs(symbols), axis=(1, 2, 3))
    return -jnp.sum(jnp.log2(self.entropy_bottleneck.likelihood(symbols)), axis=(1, 2, 3))

  def __call__(self, features: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(f^, symbols) of the split point's features."""
    symbols = self.quantize(self.encode(features))
    return self.decode(symbols, *features.shape[1:3]), symbols


class SplitClassifier(nn.Module):
  """A frozen backbone with a bottleneck unit at one of its split points.

  Attributes: network (the backbone's model spec, e.g. {'name':
  'cifar_resnet', 'depth': 20}), split (a split point of it, e.g.
  'layer3[1]'), channels (Cr), stride (S), step (Q), rate_model.
  Parameters: 'backbone' (the classifier's own tree) and 'unit'.
  """

  network: Mapping[str, Any]
  split: str
  channels: int
  stride: int
  step: float
  rate_model: str = "l1"

  def setup(self):
    if self.rate_model not in RATE_MODELS:
      raise ValueError(f"unknown rate_model {self.rate_model!r}; use one of "
                       f"{', '.join(RATE_MODELS)}")
    if self.channels < 1 or self.stride < 1 or not self.step > 0:
      raise ValueError(f"a unit needs channels >= 1, stride >= 1 and step > 0, got "
                       f"{self.channels}, {self.stride}, {self.step}")
    self.backbone = backbone(self.network)
    self.unit = BottleneckUnit(split_channels(self.network, self.split), self.channels,
                               self.stride, self.step, self.rate_model)

  def head(self, x: jax.Array) -> jax.Array:
    """The split point's features (the backbone on its running averages)."""
    return self.backbone.head(x, self.split)

  def symbols(self, x: jax.Array) -> jax.Array:
    """The client's half: images -> the integer symbols (as floats)."""
    return self.unit.quantize(self.unit.encode(self.head(x)))

  def tail(self, symbols: jax.Array, height: int, width: int) -> jax.Array:
    """The server's half: symbols -> logits; (height, width) is the split
    point's feature size."""
    return self.backbone.tail(self.unit.decode(symbols, height, width), self.split)

  def forward(self, x: jax.Array) -> dict[str, jax.Array]:
    """{'logits', 'symbols', 'rate'} (rate: per image, see BottleneckUnit.rate)."""
    features = self.head(x)
    decoded, symbols = self.unit(features)
    return {"logits": self.backbone.tail(decoded, self.split), "symbols": symbols,
            "rate": self.unit.rate(symbols)}

  def __call__(self, x: jax.Array, training: bool = False) -> jax.Array:
    """Logits through the quantized bottleneck (the unit has no batch norm;
    the backbone always runs on its running averages)."""
    del training
    return self.forward(x)["logits"]


def backbone(network: Mapping[str, Any], **kwargs) -> nn.Module:
  """The classifier a backbone spec names (a ResNet with split points)."""
  arguments = {**network, **kwargs}
  name = arguments.pop("name", None)
  if name not in NETWORKS:
    raise ValueError(f"backbone {name!r} has no split points (the ResNets of "
                     f"lic_jax.models.resnet have: {', '.join(NETWORKS)})")
  return NETWORKS[name](**arguments)


def split_channels(network: Mapping[str, Any], split: str) -> int:
  """C, the channels of the backbone's features at `split` (ValueError
  naming the split points for an unknown one)."""
  # A detached module (parent=None): this may run inside another's setup.
  return backbone(network, parent=None).features_at(split)
