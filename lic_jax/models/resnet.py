"""He, Zhang, Ren & Sun (2016): deep residual networks, with named split points.

The network is a sequence of named blocks,

    stem, layer1[0], ..., layer1[n1-1], layer2[0], ..., layerS[nS-1]

followed by the classifier (global average pool, then `fc`). A *split
point* is the name of a block: `head(x, split)` runs the blocks up to and
including it and returns its features, `tail(features, split)` runs the rest
and returns the logits, so tail(head(x, s), s) == model(x) for every s
(split computing sends the features in between).

Two families:
- ImageNet (`resnet18`, `resnet34`, `resnet50`): the torchvision layout
  (7x7/2 stem convolution and 3x3/2 max-pool; basic blocks or bottlenecks,
  the stride on the 3x3 convolution, "v1.5"), so torchvision weights load
  one to one (lic_jax.models.resnet_torchvision).
- CIFAR (`cifar_resnet`): a 3x3 stem without pooling and three stages of
  widths w, 2w, 4w (ResNet-20 is depth 20: three stages of 3 basic blocks).
- Learned grouping's Fig. 2 network (`group_net`, Chamain, Qi & Ding): an
  encoder ending in a block of h filters without the final ReLU (the
  latent), then a classifier that starts with a 3x3 convolution from h.

Inputs are (B, H, W, C) in [0, 1]; the stem normalizes them with the
per-channel `mean` and `std` (ImageNet's by default, as torchvision expects).
Batch norm keeps running averages in the `batch_stats` collection: batch
statistics in training, the running averages otherwise. Blocks named in
`frozen_blocks` always run on their running averages (and never update
them), as a frozen backbone must.
"""

import functools
import math
from typing import Callable, ClassVar, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The CIFAR statistics the grouping authors' code normalizes with
# (BRATLab-UCD/Chamain-Learning-to-group train.py).
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)

# torchvision's batch norm: eps 1e-5, running average updated by 0.1.
_BatchNorm = functools.partial(nn.BatchNorm, momentum=0.9, epsilon=1e-5)


def _conv(features: int, kernel: int, stride: int = 1, name: str | None = None) -> nn.Conv:
  """k x k convolution with torchvision's symmetric padding k // 2, no bias.

  ('SAME' would pad a stride-2 convolution of an even input only at the
  bottom/right, which is not the network torchvision weights were trained in.)
  """
  pad = kernel // 2
  return nn.Conv(features, (kernel, kernel), (stride, stride),
                 padding=((pad, pad), (pad, pad)), use_bias=False, name=name)


class Stem(nn.Module):
  """Normalization, the first convolution, batch norm, ReLU (and max-pool)."""

  features: int
  imagenet: bool
  mean: Sequence[float]
  std: Sequence[float]

  @nn.compact
  def __call__(self, x: jax.Array, training: bool) -> jax.Array:
    if x.ndim != 4 or x.shape[-1] != len(self.mean):
      raise ValueError(f"expected images (B, H, W, {len(self.mean)}) for a ResNet "
                       f"normalizing {len(self.mean)} channels, got {x.shape}")
    x = (x - jnp.asarray(self.mean, x.dtype)) / jnp.asarray(self.std, x.dtype)
    x = _conv(self.features, 7 if self.imagenet else 3, 2 if self.imagenet else 1,
              name="conv1")(x)
    x = nn.relu(_BatchNorm(use_running_average=not training, name="bn1")(x))
    if self.imagenet:
      x = nn.max_pool(x, (3, 3), (2, 2), padding=((1, 1), (1, 1)))
    return x


class BasicBlock(nn.Module):
  """Two 3x3 convolutions; a 1x1 projection where the shape changes; the
  final ReLU unless output_relu is False (an encoder's last block whose
  output is a latent, Fig. 2 of the grouping paper)."""

  features: int
  stride: int = 1
  zero_init_residual: bool = False
  output_relu: bool = True
  expansion: ClassVar[int] = 1

  @nn.compact
  def __call__(self, x: jax.Array, training: bool) -> jax.Array:
    norm = functools.partial(_BatchNorm, use_running_average=not training)
    last_scale = nn.initializers.zeros if self.zero_init_residual else nn.initializers.ones
    y = nn.relu(norm(name="bn1")(_conv(self.features, 3, self.stride, name="conv1")(x)))
    y = norm(name="bn2", scale_init=last_scale)(_conv(self.features, 3, name="conv2")(y))
    y = y + _shortcut(x, self.features, self.stride, norm)
    return nn.relu(y) if self.output_relu else y


class Bottleneck(nn.Module):
  """1x1 down to `features`, 3x3 (with the stride), 1x1 up to 4 * features."""

  features: int
  stride: int = 1
  zero_init_residual: bool = False
  expansion: ClassVar[int] = 4

  @nn.compact
  def __call__(self, x: jax.Array, training: bool) -> jax.Array:
    norm = functools.partial(_BatchNorm, use_running_average=not training)
    last_scale = nn.initializers.zeros if self.zero_init_residual else nn.initializers.ones
    out = self.features * self.expansion
    y = nn.relu(norm(name="bn1")(_conv(self.features, 1, name="conv1")(x)))
    y = nn.relu(norm(name="bn2")(_conv(self.features, 3, self.stride, name="conv2")(y)))
    y = norm(name="bn3", scale_init=last_scale)(_conv(out, 1, name="conv3")(y))
    return nn.relu(y + _shortcut(x, out, self.stride, norm))


def _shortcut(x: jax.Array, features: int, stride: int, norm) -> jax.Array:
  """Identity, or 1x1 strided projection + batch norm (torchvision's downsample)."""
  if stride == 1 and x.shape[-1] == features:
    return x
  return norm(name="downsample_bn")(_conv(features, 1, stride, name="downsample_conv")(x))


class Conv(nn.Module):
  """A 3x3 convolution alone (no batch norm, no activation): the first
  layer of Fig. 2's classifier, which reads the decoded latent."""

  features: int

  @nn.compact
  def __call__(self, x: jax.Array, training: bool) -> jax.Array:
    del training
    return _conv(self.features, 3, name="conv")(x)


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


class Block(NamedTuple):
  """One named block of a network: its constructor (called with name=),
  its output channels and its stride."""
  name: str
  make: Callable[..., nn.Module]
  features: int
  stride: int


class ResNet(nn.Module):
  """A ResNet whose blocks are named split points (see the module docstring).

  Attributes: stage_sizes (blocks per stage), block ('basic' or
  'bottleneck'), width (channels of the stem and first stage; each later
  stage doubles them), imagenet (7x7/2 stem with max-pool, else CIFAR's 3x3
  stem), num_classes, zero_init_residual (each block's last batch-norm
  scale starts at 0, so every block starts as the identity), mean and std
  (input normalization), frozen_blocks (blocks whose batch norm always uses
  its running averages).
  """

  stage_sizes: Sequence[int]
  block: str = "basic"
  width: int = 64
  imagenet: bool = True
  num_classes: int = 1000
  zero_init_residual: bool = False
  mean: Sequence[float] = IMAGENET_MEAN
  std: Sequence[float] = IMAGENET_STD
  frozen_blocks: Sequence[str] = ()

  def layout(self) -> list[Block]:
    """The named blocks, in network order."""
    block = BLOCKS[self.block]
    made = [Block("stem", functools.partial(Stem, self.width, self.imagenet, self.mean,
                                            self.std), self.width, 4 if self.imagenet else 1)]
    for stage, size in enumerate(self.stage_sizes):
      features = self.width * 2**stage
      for index in range(size):
        stride = 2 if stage > 0 and index == 0 else 1
        made.append(Block(f"layer{stage + 1}[{index}]",
                          functools.partial(block, features, stride, self.zero_init_residual),
                          features * block.expansion, stride))
    return made

  @property
  def split_names(self) -> list[str]:
    """Every split point, in network order."""
    return [b.name for b in self.layout()]

  @property
  def downsampling(self) -> int:
    """The total stride: inputs should be a multiple of it."""
    return math.prod(b.stride for b in self.layout())

  def features_at(self, split: str) -> int:
    """The channels of the features after the block named `split`."""
    return self.layout()[self._index(split, 0)].features

  def _index(self, split: str | None, default: int) -> int:
    if split is None:
      return default
    if split not in self.split_names:
      raise ValueError(f"unknown split point {split!r}; this ResNet's split points "
                       f"are {', '.join(self.split_names)}")
    return self.split_names.index(split)

  @nn.compact
  def __call__(self, x: jax.Array, training: bool = False, start: str | None = None,
               stop: str | None = None) -> jax.Array:
    """Logits of x; or, with start/stop, only the blocks after `start` up to
    and including `stop` (the features after `stop`, logits if it is None)."""
    first = self._index(start, -1) + 1
    last = self._index(stop, len(self.split_names) - 1)
    for block in self.layout()[first:last + 1]:
      x = block.make(name=block.name)(x, training and block.name not in self.frozen_blocks)
    if stop is not None:
      return x
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(self.num_classes, name="fc")(x)

  def head(self, x: jax.Array, split: str, training: bool = False) -> jax.Array:
    """Features after the block named `split`."""
    return self(x, training, stop=split)

  def tail(self, features: jax.Array, split: str, training: bool = False) -> jax.Array:
    """Logits from the features after the block named `split`."""
    return self(features, training, start=split)


class GroupNet(ResNet):
  """Fig. 2 of Chamain, Qi & Ding, as the authors' code builds it
  (BRATLab-UCD/Chamain-Learning-to-group models/groupNet.py, num_blocks
  (2, 2, 2, 2)); for 32 x 32 inputs:

      encoder     stem: Conv 16 (3x3-1)           32 x 32 x 16
                  layer1: 2 x Res 16 (3x3-1)      32 x 32 x 16
                  layer2: 2 x Res 16 (3x3-2)      16 x 16 x 16
                  layer3[0]: Res h (3x3-2), no final ReLU: the latent, 8 x 8 x h
      classifier  conv: Conv 128 (3x3-1), no batch norm or ReLU
                  layer3[1]: Res 128 (3x3-1)
                  layer4: 2 x Res 256 (3x3-2)     4 x 4 x 256
                  average pool, fc to the classes

  so d = 64 h (768 at h = 12, 1024 at h = 16). The encoder's third stage
  has stage_sizes[2] - 1 blocks of h filters without the final ReLU (the
  authors' BasicBlockNoAct; the last one's output is the latent), the
  classifier one 128-wide block, then stage_sizes[3] 256-wide ones, as in
  the authors' code. Attributes as ResNet's, plus latent_channels (h).
  """

  latent_channels: int = 16

  def layout(self) -> list[Block]:
    def basic(name, features, stride, output_relu=True):
      return Block(name, functools.partial(BasicBlock, features, stride,
                                           self.zero_init_residual, output_relu),
                   features, stride)

    made = [Block("stem", functools.partial(Stem, self.width, False, self.mean, self.std),
                  self.width, 1)]
    made += [basic(f"layer1[{i}]", self.width, 1) for i in range(self.stage_sizes[0])]
    made += [basic(f"layer2[{i}]", self.width, 1 if i else 2)
             for i in range(self.stage_sizes[1])]
    encoder3 = self.stage_sizes[2] - 1
    made += [basic(f"layer3[{i}]", self.latent_channels, 1 if i else 2, output_relu=False)
             for i in range(encoder3)]
    made.append(Block("conv", functools.partial(Conv, 128), 128, 1))
    made.append(basic(f"layer3[{encoder3}]", 128, 1))
    made += [basic(f"layer4[{i}]", 256, 1 if i else 2) for i in range(self.stage_sizes[3])]
    return made


def resnet18(**kwargs) -> ResNet:
  return ResNet((2, 2, 2, 2), "basic", **kwargs)


def resnet34(**kwargs) -> ResNet:
  return ResNet((3, 4, 6, 3), "basic", **kwargs)


def resnet50(**kwargs) -> ResNet:
  return ResNet((3, 4, 6, 3), "bottleneck", **kwargs)


def cifar_resnet(depth: int = 20, width: int = 16, num_classes: int = 10, **kwargs) -> ResNet:
  """ResNet-(6n+2) for 32x32 inputs: three stages of n basic blocks."""
  if depth < 8 or (depth - 2) % 6:
    raise ValueError(f"CIFAR ResNet depth must be 6n + 2 (8, 14, 20, 32, 44, 56, ...), "
                     f"got {depth}")
  n = (depth - 2) // 6
  kwargs.setdefault("zero_init_residual", True)
  return ResNet((n, n, n), "basic", width=width, imagenet=False,
                num_classes=num_classes, **kwargs)


def group_net(latent_channels: int = 16, num_classes: int = 100, **kwargs) -> GroupNet:
  """Fig. 2's network with h = latent_channels, normalizing inputs as the
  authors' CIFAR code does unless mean/std are given."""
  kwargs.setdefault("mean", CIFAR_MEAN)
  kwargs.setdefault("std", CIFAR_STD)
  return GroupNet((2, 2, 2, 2), "basic", width=16, imagenet=False, num_classes=num_classes,
                  latent_channels=latent_channels, **kwargs)


# The classifiers with split points, by the names of the model registry.
NETWORKS = {"resnet18": resnet18, "resnet34": resnet34, "resnet50": resnet50,
            "cifar_resnet": cifar_resnet, "group_net": group_net}
