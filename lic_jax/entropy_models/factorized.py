"""Deep factorized density model ("entropy bottleneck").

Balle, Minnen, Singh, Hwang & Johnston (2018), appendix 6.1: each channel c
has its own univariate cumulative c(x) = f_K o ... o f_1 (x), built from

    f_k(x) = g_k(H^(k) x + b^(k)),     g_k(x) = x + a^(k) * tanh(x)  (k < K)
    f_K(x) = sigmoid(H^(K) x + b^(K))

with H = softplus(raw) >= 0 and a = tanh(raw) >= -1, which makes c monotone.
The likelihood of a (noisy or rounded) value v is c(v + 1/2) - c(v - 1/2),
i.e. the density convolved with a unit box.

Quantiles (tail_mass/2, 1/2, 1 - tail_mass/2) of each channel are extra
parameters trained by `aux_loss` alone; the median centres the quantizer at
inference time and the outer two bound the support of the coding tables.
"""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lic_jax.layers.bounds import lower_bound


def _constant(value: float):
  def init(key, shape, dtype=jnp.float32):
    del key
    return jnp.full(shape, value, dtype)

  return init


def _uniform(low: float, high: float):
  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, low, high)

  return init


def _constant_rows(row: Sequence[float]):
  def init(key, shape, dtype=jnp.float32):
    del key
    return jnp.broadcast_to(jnp.asarray(row, dtype), shape)

  return init


def upper_tail_logit(tail_mass: float) -> float:
  """Logit of the cumulative at the upper quantile 1 - tail_mass / 2."""
  return float(np.log(2.0 / tail_mass - 1.0))


class EntropyBottleneck(nn.Module):
  """Per-channel learned density for a latent laid out (..., channels).

  Attributes:
    channels: number of channels (last axis of the latent).
    filters: widths of the hidden layers of each channel's density MLP.
    init_scale: the initial density is roughly uniform on [-init_scale, init_scale].
    tail_mass: probability mass outside the coded range (sets the quantiles).
    likelihood_bound: smallest likelihood, for finite rates.
  """

  channels: int
  filters: Sequence[int] = (3, 3, 3)
  init_scale: float = 10.0
  tail_mass: float = 1e-9
  likelihood_bound: float = 1e-9

  def setup(self):
    widths = (1,) + tuple(self.filters) + (1,)
    scale = self.init_scale ** (1.0 / (len(widths) - 1))
    matrices, biases, factors = [], [], []
    for i in range(len(widths) - 1):
      init = float(np.log(np.expm1(1.0 / scale / widths[i + 1])))
      matrices.append(self.param(
          f"matrix{i}", _constant(init), (self.channels, widths[i + 1], widths[i])))
      biases.append(self.param(
          f"bias{i}", _uniform(-0.5, 0.5), (self.channels, widths[i + 1], 1)))
      if i < len(widths) - 2:
        factors.append(self.param(
            f"factor{i}", nn.initializers.zeros_init(), (self.channels, widths[i + 1], 1)))
    self.matrices, self.biases, self.factors = matrices, biases, factors
    self.quantiles = self.param(
        "quantiles",
        _constant_rows((-self.init_scale, 0.0, self.init_scale)),
        (self.channels, 3))

  def logits_cumulative(self, x: jax.Array, stop_gradient: bool = False) -> jax.Array:
    """Logit of each channel's cumulative at x of shape (channels, L)."""
    if x.ndim != 2 or x.shape[0] != self.channels:
      raise ValueError(f"expected ({self.channels}, L) inputs, got {x.shape}")
    sg = jax.lax.stop_gradient if stop_gradient else (lambda v: v)
    logits = x[:, None, :]
    for i, (matrix, bias) in enumerate(zip(self.matrices, self.biases)):
      logits = jnp.matmul(jax.nn.softplus(sg(matrix)), logits) + sg(bias)
      if i < len(self.factors):
        logits = logits + jnp.tanh(sg(self.factors[i])) * jnp.tanh(logits)
    return logits[:, 0, :]

  @property
  def medians(self) -> jax.Array:
    return jax.lax.stop_gradient(self.quantiles[:, 1])

  def likelihood(self, values: jax.Array) -> jax.Array:
    """P(value rounded to its unit bin) for values of shape (..., channels)."""
    flat = jnp.moveaxis(values, -1, 0).reshape(self.channels, -1)
    lower = self.logits_cumulative(flat - 0.5)
    upper = self.logits_cumulative(flat + 0.5)
    # Evaluate in the tail where the sigmoid has the most precision.
    sign = jax.lax.stop_gradient(-jnp.sign(lower + upper))
    lik = jnp.abs(jax.nn.sigmoid(sign * upper) - jax.nn.sigmoid(sign * lower))
    lik = lower_bound(lik, self.likelihood_bound)
    moved = lik.reshape((self.channels,) + values.shape[:-1])
    return jnp.moveaxis(moved, 0, -1)

  def quantize(self, values: jax.Array) -> jax.Array:
    """Hard quantization: round to the integer grid centred on each median."""
    return jnp.round(values - self.medians) + self.medians

  def __call__(self, values: jax.Array, training: bool) -> tuple[jax.Array, jax.Array]:
    """Returns (noisy or quantized values, their likelihoods).

    In training, additive uniform noise U(-1/2, 1/2) from the 'noise' RNG
    stream stands in for rounding (Balle 2017, section 2).
    """
    if training:
      noise = jax.random.uniform(
          self.make_rng("noise"), values.shape, values.dtype, -0.5, 0.5)
      values = values + noise
    else:
      values = self.quantize(values)
    return values, self.likelihood(values)

  def aux_loss(self) -> jax.Array:
    """Pulls the quantile parameters onto their target cumulative values.

    The density parameters are held fixed so that this loss trains the
    quantiles only.
    """
    logits = self.logits_cumulative(self.quantiles, stop_gradient=True)
    t = upper_tail_logit(self.tail_mass)
    target = jnp.array([-t, 0.0, t], logits.dtype)
    return jnp.sum(jnp.abs(logits - target))
