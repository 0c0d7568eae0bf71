"""Conditional Gaussian entropy model (Balle et al. 2018, Minnen et al. 2018).

Each latent element y_i is modelled as N(mu_i, sigma_i^2) convolved with a
unit box, so its likelihood is

    P(y_i) = Phi((y_i - mu_i + 1/2) / sigma_i) - Phi((y_i - mu_i - 1/2) / sigma_i)

evaluated on |y_i - mu_i| (the distribution is symmetric) where the tails of
Phi are precise. sigma is lower-bounded by the smallest entry of the scale
table, the set of scales for which coding tables exist.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lic_jax.layers.bounds import lower_bound

SCALE_MIN = 0.11
SCALE_MAX = 256.0
SCALE_LEVELS = 64


def default_scale_table(
    scale_min: float = SCALE_MIN, scale_max: float = SCALE_MAX,
    levels: int = SCALE_LEVELS) -> np.ndarray:
  """Log-spaced scales for which coding tables are built."""
  return np.exp(np.linspace(np.log(scale_min), np.log(scale_max), levels))


def standard_normal_cdf(x: jax.Array) -> jax.Array:
  return 0.5 * jax.lax.erfc(-x * (2.0**-0.5))


class GaussianConditional(nn.Module):
  """Gaussian likelihoods given per-element scales (and optional means).

  Attributes:
    scale_table: scales with coding tables; its minimum bounds sigma below.
    likelihood_bound: smallest likelihood, for finite rates.
    tail_mass: probability mass outside the coded range of each table.
  """

  scale_table: tuple[float, ...] = tuple(default_scale_table())
  likelihood_bound: float = 1e-9
  tail_mass: float = 1e-9

  @property
  def scale_bound(self) -> float:
    return float(min(self.scale_table))

  def likelihood(self, values: jax.Array, scales: jax.Array,
                 means: jax.Array | None = None) -> jax.Array:
    if means is not None:
      values = values - means
    scales = lower_bound(scales, self.scale_bound)
    v = jnp.abs(values)
    upper = standard_normal_cdf((0.5 - v) / scales)
    lower = standard_normal_cdf((-0.5 - v) / scales)
    return lower_bound(upper - lower, self.likelihood_bound)

  @staticmethod
  def quantize(values: jax.Array, means: jax.Array | None = None) -> jax.Array:
    """Hard quantization: round to the integer grid centred on the means."""
    if means is None:
      return jnp.round(values)
    return jnp.round(values - means) + means

  def __call__(self, values: jax.Array, scales: jax.Array,
               means: jax.Array | None = None,
               training: bool = False) -> tuple[jax.Array, jax.Array]:
    """Returns (noisy or quantized values, their likelihoods)."""
    if values.shape != scales.shape:
      raise ValueError(
          f"values {values.shape} and scales {scales.shape} must have one shape")
    if training:
      noise = jax.random.uniform(
          self.make_rng("noise"), values.shape, values.dtype, -0.5, 0.5)
      values = values + noise
    else:
      values = self.quantize(values, means)
    return values, self.likelihood(values, scales, means)
