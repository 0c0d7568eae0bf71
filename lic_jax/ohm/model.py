"""One-hot max (OHM) quantization with rate adaptation (Löhdefink, Sitzmann,
Bär & Fingscheidt, "Adaptive Bitrate Quantization Scheme Without Codebook
for Learned Image Compression"), and its integer-rounding (INT) reference.

  x -> g_a -> r -> quantizer -> z^ (C_Z maps) -> mask M (Eq. 4-5) -> z^' -> r^ -> g_s -> x^

OHM: r -> 1x1 conv to C_Z * S channels -> (..., C_Z, S) -> z = -beta relu(.)
-> one-hot of the argmax along S (Eq. 1-2), the softmax in the backward pass
(Eq. 3) -> 1x1 conv back. The symbol of a (position, map) is its argmax
index 0..S-1, coded with a categorical entropy model made from a constant
ones tensor (Sec. 3.3). The authors' code (ifnspaml/OHMQ) departs from
Eq. 2: a ReLU before the first 1x1 conv and after the second, z = -|.|, and a
learnable per-map temperature (initialized to 100) multiplying the softmax's
logits; `ohm_form='code'` selects it, `'paper'` (the default) is Eq. 2 with
a learnable scalar beta, initialized to the same 100 (the paper gives none).

INT (the paper's supplementary Sec. A, as in the authors' code): g_a gives
C_Z maps directly, uniform noise in training and rounding at test, clamped
to [-(S/2 - 1), S/2]; the factorized entropy bottleneck is its prior.

Both quantizers share the masking: quality q in [0, 1] keeps the first
n(q) = C_min + ceil(q (C_Z - C_min)) maps (Eq. 5); the others are zero for
the decoder and cost no rate.

Images are (B, H, W, C) in [0, 1] in and out. The MNIST architecture (the
paper's supplementary Sec. D, the authors' mnist_models) works in [-1, 1]
inside (tanh output); the natural-image one is a HiFiC-style autoencoder of
downsampling 16.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from lic_jax.entropy_models import EntropyBottleneck
from lic_jax.layers import ConvTranspose

QUANTIZERS = ("ohm", "int")
OHM_FORMS = ("paper", "code")
ARCHITECTURES = ("mnist", "natural")
# The categorical prior's first convolution: its outputs at a position
# depend on which of the 3x3 neighbours lie inside the grid, nothing else
# (lic_jax.ohm.codec builds one table per such position class).
PRIOR_KERNEL = 3


def kept_maps(quality: jax.Array, num_maps: int, min_maps: int) -> jax.Array:
  """n(q) = C_min + ceil(q (C_Z - C_min)) (Eq. 5), int32, for q in [0, 1]."""
  q = jnp.clip(jnp.asarray(quality, jnp.float32), 0.0, 1.0)
  return min_maps + jnp.ceil(q * (num_maps - min_maps)).astype(jnp.int32)


def map_mask(kept: jax.Array, num_maps: int) -> jax.Array:
  """(B, C_Z) float: 1 for the first kept[b] maps of image b, else 0 (Eq. 4)."""
  return (jnp.arange(num_maps)[None, :] < jnp.reshape(kept, (-1, 1))).astype(jnp.float32)


def sample_quality(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  """q ~ p(q) = 2q on [0, 1] (Eq. 6), by inversion: q = sqrt(u), u ~ U(0, 1)."""
  return jnp.sqrt(jax.random.uniform(key, shape))


def rd_weight(quality: jax.Array, lambda_min: float, lambda_max: float) -> jax.Array:
  """lambda(q) = lambda_min + q (lambda_max - lambda_min) (Eq. 10)."""
  return lambda_min + quality * (lambda_max - lambda_min)


def one_hot_max(z: jax.Array, temperature: jax.Array | float = 1.0) -> jax.Array:
  """Omega(z) along the last axis: the one-hot of the argmax in the forward
  pass (Eq. 2), the gradient of softmax(temperature * z) in the backward
  pass (Eq. 3; straight-through)."""
  hard = jax.nn.one_hot(jnp.argmax(z, axis=-1), z.shape[-1], dtype=z.dtype)
  soft = jax.nn.softmax(temperature * z, axis=-1)
  return soft + jax.lax.stop_gradient(hard - soft)


class OneHotMaxQuantizer(nn.Module):
  """r (..., features) -> one-hot z^ (..., C_Z, S) and back to r^ (..., features)."""

  features: int
  num_maps: int
  num_symbols: int
  form: str = "paper"
  temperature_init: float = 100.0

  def setup(self):
    if self.form not in OHM_FORMS:
      raise ValueError(f"unknown OHM form {self.form!r}; choose one of {OHM_FORMS}")
    # The 1x1 convolutions, as Dense layers over the channels (the same
    # map; XLA:CPU runs it faster at C_Z S = 4096 outputs).
    self.conv_in = nn.Dense(self.num_maps * self.num_symbols, name="conv_in")
    self.conv_out = nn.Dense(self.features, name="conv_out")
    if self.form == "paper":
      self.beta = self.param("beta", nn.initializers.constant(self.temperature_init), ())
    else:
      self.temperature = self.param(
          "temperature", nn.initializers.constant(self.temperature_init), (self.num_maps,))

  def scores(self, r: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(z of shape (..., C_Z, S), the softmax's temperature per map)."""
    h = self.conv_in(nn.relu(r) if self.form == "code" else r)
    h = h.reshape(h.shape[:-1] + (self.num_maps, self.num_symbols))
    if self.form == "paper":
      return -self.beta * nn.relu(h), jnp.ones((self.num_maps, 1))
    return -jnp.abs(h), self.temperature[:, None]

  def symbols(self, r: jax.Array) -> jax.Array:
    """The argmax index 0..S-1 of each (position, map), int32."""
    z, _ = self.scores(r)
    return jnp.argmax(z, axis=-1).astype(jnp.int32)

  def quantize(self, r: jax.Array) -> jax.Array:
    """The one-hot z^ (Eq. 1-3), differentiable through the softmax."""
    z, temperature = self.scores(r)
    return one_hot_max(z, temperature)

  def dequantize(self, one_hot: jax.Array) -> jax.Array:
    """r^ from the (masked) one-hot maps: the 1x1 convolution back."""
    r_hat = self.conv_out(one_hot.reshape(one_hot.shape[:-2] + (-1,)))
    return nn.relu(r_hat) if self.form == "code" else r_hat


class CategoricalPrior(nn.Module):
  """P (h, w, C_Z, S) from a constant ones tensor (Sec. 3.3, Eq. 8): conv
  3x3 (1 -> hidden), ReLU, conv 1x1 (hidden -> C_Z S), softmax over S with a
  learnable per-map temperature, as the authors' MNIST entropy model."""

  num_maps: int
  num_symbols: int
  hidden: int = 32

  @nn.compact
  def __call__(self, height: int, width: int) -> jax.Array:
    """log2 P of every symbol at every (position, map) of an h x w grid."""
    ones = jnp.ones((1, height, width, 1))
    h = nn.relu(nn.Conv(self.hidden, (PRIOR_KERNEL, PRIOR_KERNEL), padding="SAME")(ones))
    logits = nn.Conv(self.num_maps * self.num_symbols, (1, 1))(h)[0]
    logits = logits.reshape(height, width, self.num_maps, self.num_symbols)
    temperature = self.param("temperature", nn.initializers.ones_init(), (self.num_maps, 1))
    return jax.nn.log_softmax(temperature * logits, axis=-1) / jnp.log(2.0)


class MNISTAnalysis(nn.Module):
  """28x28x1 in [-1, 1] -> 3x3 x features (the authors' mnist_encoder)."""

  features: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    pad = ((1, 1), (1, 1))
    x = nn.relu(nn.Conv(16, (3, 3), strides=(3, 3), padding=pad)(x))
    x = nn.relu(nn.Conv(16, (3, 3), strides=(2, 2), padding=pad)(x))
    return nn.Conv(self.features, (3, 3), strides=(2, 2), padding=pad)(x)


class MNISTSynthesis(nn.Module):
  """3x3 x C -> 28x28x1 in [-1, 1]: transposed convs 3x3 s2 (p 0), 5x5 s2
  (p 1), 2x2 s2 (p 1) (PyTorch paddings; 3 -> 7 -> 15 -> 28), tanh."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = nn.relu(ConvTranspose(16, 3, 2, padding=(2, 2))(x))
    x = nn.relu(ConvTranspose(8, 5, 2, padding=(3, 3))(x))
    return jnp.tanh(ConvTranspose(1, 2, 2, padding=(0, 0))(x))


class ChannelNorm(nn.Module):
  """Each position normalized over its channels (mean 0, unbiased variance
  1, eps 1e-3), then a learned scale and offset per channel: the authors'
  ChannelNorm2D (HiFiC's), which keeps no running statistics."""

  epsilon: float = 1e-3

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    channels = x.shape[-1]
    mean = jnp.mean(x, axis=-1, keepdims=True)
    variance = jnp.var(x, axis=-1, ddof=1, keepdims=True)
    scale = self.param("scale", nn.initializers.ones, (channels,))
    offset = self.param("offset", nn.initializers.zeros, (channels,))
    return (x - mean) * jax.lax.rsqrt(variance + self.epsilon) * scale + offset


def _maybe_norm(x: jax.Array, channel_norm: bool) -> jax.Array:
  return ChannelNorm()(x) if channel_norm else x


class ResidualBlock(nn.Module):
  """x + CN(conv3x3(ReLU(CN(conv3x3(x))))), reflection-padded: the authors'
  ResidualBlock."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    def conv(h):
      h = jnp.pad(h, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
      return ChannelNorm()(nn.Conv(x.shape[-1], (3, 3), padding="VALID")(h))
    return x + conv(nn.relu(conv(x)))


class NaturalAnalysis(nn.Module):
  """H x W x 3 -> H/16 x W/16 x features: conv 7x7 (filters[0]), then four
  3x3 stride-2 convs (filters[1:], features), ReLUs between (HiFiC-style,
  the authors' OpenimagesEncoder), each conv followed by a channel norm
  when channel_norm (the authors'; zero padding where they reflect)."""

  features: int
  filters: tuple[int, ...] = (60, 120, 240, 480)
  channel_norm: bool = False

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    norm = functools.partial(_maybe_norm, channel_norm=self.channel_norm)
    x = nn.relu(norm(nn.Conv(self.filters[0], (7, 7), padding="SAME")(x)))
    for width in self.filters[1:]:
      x = nn.relu(norm(nn.Conv(width, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))(x)))
    return norm(nn.Conv(self.features, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))(x))


class NaturalSynthesis(nn.Module):
  """The mirror: four 3x3 stride-2 transposed convs (filters reversed),
  ReLUs, conv 7x7 to 3 channels; with channel_norm, a channel norm after
  each transposed conv, and before them `residual_blocks` residual blocks
  at the input's width inside one more skip, x + blocks(x) (the authors'
  OpenimagesDecoder: 8 of them)."""

  filters: tuple[int, ...] = (60, 120, 240, 480)
  channel_norm: bool = False
  residual_blocks: int = 0

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if self.residual_blocks:
      h = x
      for _ in range(self.residual_blocks):
        h = ResidualBlock()(h)
      x = x + h
    for width in reversed(self.filters):
      x = nn.relu(_maybe_norm(ConvTranspose(width, 3, 2)(x), self.channel_norm))
    return nn.Conv(3, (7, 7), padding="SAME")(x)


class OHMAutoencoder(nn.Module):
  """The autoencoder of either quantizer, masked to the kept maps.

  Attributes:
    architecture: 'mnist' (28x28 grayscale) or 'natural' (RGB, sides a
      multiple of 16).
    quantizer: 'ohm' or 'int'.
    num_maps: C_Z, the maps of the bottleneck.
    num_symbols: S, the one-hot length (OHM) or the clamp range (INT).
    min_maps: C_min, the maps kept at q = 0.
    ohm_form: 'paper' (Eq. 2) or 'code' (the authors' code, see above).
    temperature_init: beta's (or the per-map temperature's) initial value.
    features: the channels of r, the OHM quantizer's input and output.
    filters: the natural architecture's widths.
    channel_norm, residual_blocks: the natural architecture's channel norms
      and the decoder's residual blocks before upsampling (the authors'
      OpenImages model: True, 8; off by default, as our CPU-scale runs).
  """

  architecture: str = "mnist"
  quantizer: str = "ohm"
  num_maps: int = 16
  num_symbols: int = 256
  min_maps: int = 0
  ohm_form: str = "paper"
  temperature_init: float = 100.0
  features: int = 32
  filters: tuple[int, ...] = (60, 120, 240, 480)
  channel_norm: bool = False
  residual_blocks: int = 0

  def setup(self):
    for name, value, known in (("architecture", self.architecture, ARCHITECTURES),
                               ("quantizer", self.quantizer, QUANTIZERS)):
      if value not in known:
        raise ValueError(f"unknown {name} {value!r}; choose one of {known}")
    if self.architecture == "mnist" and (self.channel_norm or self.residual_blocks):
      raise ValueError("channel_norm and residual_blocks belong to the natural architecture")
    if not 0 <= self.min_maps <= self.num_maps:
      raise ValueError(f"min_maps={self.min_maps} must lie in [0, num_maps={self.num_maps}]")
    latent = self.features if self.quantizer == "ohm" else self.num_maps
    if self.architecture == "mnist":
      self.g_a, self.g_s = MNISTAnalysis(latent), MNISTSynthesis()
    else:
      self.g_a = NaturalAnalysis(latent, tuple(self.filters), self.channel_norm)
      self.g_s = NaturalSynthesis(tuple(self.filters), self.channel_norm,
                                  self.residual_blocks)
    if self.quantizer == "ohm":
      self.ohm = OneHotMaxQuantizer(self.features, self.num_maps, self.num_symbols,
                                    self.ohm_form, self.temperature_init)
      self.prior = CategoricalPrior(self.num_maps, self.num_symbols)
    else:
      self.entropy_bottleneck = EntropyBottleneck(self.num_maps)

  @property
  def image_channels(self) -> int:
    return 1 if self.architecture == "mnist" else 3

  @property
  def downsampling(self) -> int:
    return 16 if self.architecture == "natural" else 1

  @property
  def symbol_range(self) -> tuple[int, int]:
    """The smallest and largest symbol: 0..S-1 (OHM), -(S/2 - 1)..S/2 (INT)."""
    if self.quantizer == "ohm":
      return 0, self.num_symbols - 1
    return -(self.num_symbols // 2 - 1), self.num_symbols // 2

  def _to_model(self, x: jax.Array) -> jax.Array:
    return 2.0 * x - 1.0 if self.architecture == "mnist" else x

  def _from_model(self, x: jax.Array) -> jax.Array:
    return (x + 1.0) / 2.0 if self.architecture == "mnist" else x

  def analyze(self, x: jax.Array) -> jax.Array:
    return self.g_a(self._to_model(x))

  def kept_maps(self, quality: jax.Array) -> jax.Array:
    return kept_maps(quality, self.num_maps, self.min_maps)

  def symbols(self, x: jax.Array) -> jax.Array:
    """The int32 symbols (B, h, w, C_Z) of images x, every map (the encoder)."""
    r = self.analyze(x)
    if self.quantizer == "ohm":
      return self.ohm.symbols(r)
    low, high = self.symbol_range
    return jnp.clip(jnp.round(r), low, high).astype(jnp.int32)

  def symbol_bits(self, symbols: jax.Array) -> jax.Array:
    """-log2 P of each symbol (B, h, w, C_Z) under the entropy model."""
    if self.quantizer == "ohm":
      log2_p = self.prior(*symbols.shape[1:3])
      return -jnp.take_along_axis(log2_p[None], symbols[..., None], axis=-1)[..., 0]
    return -jnp.log2(self.entropy_bottleneck.likelihood(symbols.astype(jnp.float32)))

  def synthesize(self, symbols: jax.Array, kept: jax.Array) -> jax.Array:
    """x^ in [0, 1] from the symbols of the first kept[b] maps (the decoder;
    the symbols of the other maps are ignored)."""
    mask = map_mask(kept, self.num_maps)[:, None, None, :]
    if self.quantizer == "ohm":
      one_hot = jax.nn.one_hot(symbols, self.num_symbols) * mask[..., None]
      r_hat = self.ohm.dequantize(one_hot)
    else:
      r_hat = symbols.astype(jnp.float32) * mask
    return self._from_model(self.g_s(r_hat))

  def __call__(self, x: jax.Array, quality: jax.Array, training: bool = False) -> dict:
    """{'x_hat', 'bits' (B,), 'kept' (B,)} of images x at quality q (B,) or ().

    OHM trains through the one-hot's softmax; INT adds uniform noise in
    training. Masked maps carry neither symbols nor rate (Eq. 8).
    """
    kept = jnp.broadcast_to(self.kept_maps(quality), x.shape[:1])
    mask = map_mask(kept, self.num_maps)[:, None, None, :]
    r = self.analyze(x)
    if self.quantizer == "ohm":
      one_hot = self.ohm.quantize(r) * mask[..., None]
      log2_p = self.prior(*r.shape[1:3])
      bits = -jnp.sum(one_hot * log2_p[None], axis=-1)
      r_hat = self.ohm.dequantize(one_hot)
    else:
      low, high = self.symbol_range
      if training:
        r = r + jax.random.uniform(self.make_rng("noise"), r.shape, r.dtype, -0.5, 0.5)
      else:
        r = jnp.round(r)
      values = jnp.clip(r, low, high)
      bits = -jnp.log2(self.entropy_bottleneck.likelihood(values)) * mask
      r_hat = values * mask
    x_hat = self._from_model(self.g_s(r_hat))
    return {"x_hat": x_hat, "bits": jnp.sum(bits, axis=(1, 2, 3)), "kept": kept}
