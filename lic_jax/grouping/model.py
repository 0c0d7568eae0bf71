"""Chamain, Qi & Ding: learned grouping with coding profiles (Fig. 1).

The encoder f maps an image to a latent z in R^d and a profile index j; the
source codes z with profile j's entropy model; the classifier g classifies
the decoded latent:

    z = f(x) / ||f(x)||_2            d = h * h' * w', L2-normalized as in MCR^2
    pi_i = softmax(W z_i + b)        k-way profile head: soft memberships pi_ij
    j = argmax_j pi_ij               the profile index sent (coding time)
    S = 2 s / sqrt(d)                quantization step, s trainable      (Sec. IV-B)
    z^ = round(z / S) S              straight-through rounding           (Eq. 13)
    logits = g(z^)

so that the quantization noise is uniform in [-S/2, S/2] per element and
eps^2 = (2s)^2 / 12 bounds its squared l2 norm (Eq. 5): eps is tied to s.
The training rate is the grouped log-det bound r^c(Z | eps, Pi) of the batch
(lic_jax.coding_rate, Eq. 10; lic_jax.grouping.recipe).

f is a classifier's blocks up to a split point (lic_jax.models.resnet) and
g the rest of it. Fig. 2's network (`group_net`) splits where its encoder
ends in a block of h filters, so z is that block's output; another network
(e.g. the CIFAR ResNet-20, `adapters=True`) gets a 1x1 convolution to h
channels at the end of f and one back to the split point's channels at the
start of g. Everything trains, end to end (Eq. 12).

`memberships='hard'` is the authors' public code: one-hot memberships of
the detached argmax, so the profile head never receives a gradient.
`noise='gaussian'` is Sec. IV's other channel: z^ = z + n, n ~ N(0,
eps^2/d I) with a fixed eps (Eq. 3's rate); its latents are coded with the
uniform quantizer of the same distortion (s = sqrt(3) eps).

Coding profiles are real: profile j has its own factorized entropy model
(an entropy bottleneck over the d symbols), trained on the symbols of the
images the head assigns to it and frozen to integer tables by
lic_jax.grouping.codec.
"""

import functools
import json
import math
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from lic_jax.entropy_models import EntropyBottleneck
from lic_jax.layers.rounding import ste_round
from lic_jax.split.model import backbone, split_channels

MEMBERSHIPS = ("soft", "hard")
NOISES = ("quantization", "gaussian")


def latent_grid(network: Mapping[str, Any], split: str, image_size: int) -> tuple[int, int]:
  """(h', w'): the split point's feature size for image_size^2 inputs."""
  return _latent_grid(json.dumps(dict(network), sort_keys=True), split, image_size)


@functools.lru_cache(maxsize=None)
def _latent_grid(network_json: str, split: str, image_size: int) -> tuple[int, int]:
  # Cached: setup() runs on every apply, and tracing the head costs ~60 ms.
  net = backbone(json.loads(network_json), parent=None)
  x = jax.ShapeDtypeStruct((1, image_size, image_size, 3), jnp.float32)
  shape = jax.eval_shape(lambda x: net.init_with_output(jax.random.PRNGKey(0), x, split,
                                                        method=net.head)[0], x).shape
  return shape[1], shape[2]


class GroupedClassifier(nn.Module):
  """Encoder f, profile head, quantizer, per-profile entropy models and classifier g.

  Attributes: network (the classifier's spec, e.g. {'name': 'cifar_resnet',
  'depth': 20}), split (the block f ends after), latent_channels (h),
  groups (k), image_size (inputs are image_size^2, which fixes d),
  step (the initial s), memberships ('soft' or 'hard'), noise
  ('quantization' or 'gaussian'), adapters (1x1 convolutions between the
  split point's channels and h; False where the split point's features are
  the h-channel latent, as in Fig. 2's network).
  Parameters: 'net' (the classifier's own tree), with adapters 'project'
  (f's last layer) and 'expand' (g's first), 'profile_head', 'log_step'
  (log s) and 'profiles' (k x d densities).
  """

  network: Mapping[str, Any]
  split: str = "layer3[0]"
  latent_channels: int = 16
  groups: int = 1
  image_size: int = 32
  step: float = 0.5
  memberships: str = "soft"
  noise: str = "quantization"
  adapters: bool = True

  def setup(self):
    if self.memberships not in MEMBERSHIPS:
      raise ValueError(f"unknown memberships {self.memberships!r}; use one of "
                       f"{', '.join(MEMBERSHIPS)}")
    if self.noise not in NOISES:
      raise ValueError(f"unknown noise {self.noise!r}; use one of {', '.join(NOISES)}")
    if self.groups < 1 or self.latent_channels < 1 or not self.step > 0:
      raise ValueError(f"need groups >= 1, latent_channels >= 1 and step > 0, got "
                       f"{self.groups}, {self.latent_channels}, {self.step}")
    self.grid = latent_grid(self.network, self.split, self.image_size)
    self.dim = self.grid[0] * self.grid[1] * self.latent_channels
    self.net = backbone(self.network)
    channels = split_channels(self.network, self.split)
    if self.adapters:
      self.project = nn.Conv(self.latent_channels, (1, 1))
      self.expand = nn.Conv(channels, (1, 1))
    elif channels != self.latent_channels:
      raise ValueError(f"without adapters the features at split point {self.split!r} are "
                       f"the latent, but they have {channels} channels, not "
                       f"latent_channels = {self.latent_channels}")
    self.profile_head = nn.Dense(self.groups)
    self.log_step = self.param("log_step", nn.initializers.constant(math.log(self.step)), ())
    self.profiles = EntropyBottleneck(self.groups * self.dim)

  def encode(self, x: jax.Array, training: bool = False) -> jax.Array:
    """z = f(x) / ||f(x)||, (B, d)."""
    if x.shape[1:3] != (self.image_size, self.image_size):
      raise ValueError(f"the model takes {self.image_size}x{self.image_size} images, got "
                       f"{x.shape}")
    f = self.net.head(x, self.split, training)
    f = (self.project(f) if self.adapters else f).reshape(x.shape[0], -1)
    return f / jnp.maximum(jnp.linalg.norm(f, axis=-1, keepdims=True), 1e-12)

  def profile_logits(self, z: jax.Array) -> jax.Array:
    """(B, k): the profile head's outputs (z rescaled to unit-size elements)."""
    return self.profile_head(z * math.sqrt(self.dim))

  def profile_index(self, z: jax.Array) -> jax.Array:
    """j = argmax of the head, (B,) int32: the profile the source codes with."""
    return jnp.argmax(self.profile_logits(z), axis=-1).astype(jnp.int32)

  def membership(self, z: jax.Array) -> jax.Array:
    """(B, k) pi_ij: the softmax ('soft'), or the one-hot of the detached
    argmax ('hard', the authors' code: no gradient reaches the head)."""
    logits = self.profile_logits(z)
    if self.memberships == "soft":
      return jax.nn.softmax(logits, axis=-1)
    return jax.nn.one_hot(jnp.argmax(jax.lax.stop_gradient(logits), -1), self.groups,
                          dtype=z.dtype)

  def quantizer_step(self) -> jax.Array:
    """S = 2 s / sqrt(d)."""
    return 2.0 * jnp.exp(self.log_step) / math.sqrt(self.dim)

  def distortion(self) -> jax.Array:
    """eps = 2 s / sqrt(12) (Eq. 5)."""
    return 2.0 * jnp.exp(self.log_step) / math.sqrt(12.0)

  def symbols(self, z: jax.Array) -> jax.Array:
    """round(z / S) as floats, straight-through (Eq. 13 without the S)."""
    return ste_round(z / self.quantizer_step())

  def classify(self, z_hat: jax.Array, training: bool = False) -> jax.Array:
    """g(z^): logits of decoded latents (B, d)."""
    # sqrt(d) returns the unit-norm latent to unit-size elements.
    grid = z_hat.reshape(z_hat.shape[0], *self.grid, self.latent_channels) * math.sqrt(self.dim)
    return self.net.tail(self.expand(grid) if self.adapters else grid, self.split, training)

  def profile_bits(self, symbols: jax.Array) -> jax.Array:
    """(B, k): the bits of each image's symbols (B, d) under every profile."""
    tiled = jnp.tile(symbols, (1, self.groups))
    lik = self.profiles.likelihood(tiled).reshape(symbols.shape[0], self.groups, self.dim)
    return -jnp.sum(jnp.log2(lik), axis=-1)

  def forward(self, x: jax.Array, training: bool = False) -> dict[str, jax.Array]:
    """{'z', 'membership', 'group', 'symbols', 'logits', 'profile_bits', 'eps'}.

    In training with noise='gaussian', z^ = z + N(0, eps^2 / d) from the
    'noise' RNG stream; otherwise z^ = S round(z / S).
    """
    z = self.encode(x, training)
    symbols = self.symbols(z)
    if training and self.noise == "gaussian":
      z_hat = z + self.distortion() / math.sqrt(self.dim) * jax.random.normal(
          self.make_rng("noise"), z.shape, z.dtype)
    else:
      z_hat = symbols * self.quantizer_step()
    return {"z": z, "membership": self.membership(z), "group": self.profile_index(z),
            "symbols": symbols, "logits": self.classify(z_hat, training),
            "profile_bits": self.profile_bits(jax.lax.stop_gradient(symbols)),
            "eps": self.distortion()}

  def __call__(self, x: jax.Array, training: bool = False) -> jax.Array:
    """Logits through the quantized latent."""
    return self.forward(x, training)["logits"]
