"""Generalized divisive normalization (Balle, Laparra & Simoncelli, 2016).

    GDN:   y_i = x_i / sqrt(beta_i + sum_j gamma_ij * x_j^2)
    IGDN:  y_i = x_i * sqrt(beta_i + sum_j gamma_ij * x_j^2)

The simplified form of Johnston et al. (2019) replaces the square root of
squares by absolute values: y_i = x_i / (beta_i + sum_j gamma_ij * |x_j|).

beta and gamma are stored reparameterized as sqrt(value + pedestal) and
lower-bounded on use, which keeps beta >= beta_min and gamma >= 0 whatever the
optimizer does to the stored numbers (Balle 2018, appendix 6.1).
"""

import jax
import jax.numpy as jnp
import flax.linen as nn

from lic_jax.layers.bounds import lower_bound

_PEDESTAL = 2.0**-36  # reparam_offset**2 with reparam_offset = 2**-18.


def _reparam_init(value_fn):
  def init(key, shape, dtype=jnp.float32):
    del key
    return jnp.sqrt(value_fn(shape, dtype) + _PEDESTAL)

  return init


def effective_beta(beta_param: jax.Array, beta_min: float) -> jax.Array:
  bound = (beta_min + _PEDESTAL) ** 0.5
  return lower_bound(beta_param, bound) ** 2 - _PEDESTAL


def effective_gamma(gamma_param: jax.Array) -> jax.Array:
  return lower_bound(gamma_param, _PEDESTAL**0.5) ** 2 - _PEDESTAL


class GDN(nn.Module):
  """GDN over the last (channel) axis of an NHWC tensor.

  Attributes:
    inverse: compute IGDN (multiply) instead of GDN (divide).
    simplified: use |x| instead of x^2 and drop the square root.
    beta_min: lower bound of beta.
    gamma_init: initial value of the diagonal of gamma.
  """

  inverse: bool = False
  simplified: bool = False
  beta_min: float = 1e-6
  gamma_init: float = 0.1

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    channels = x.shape[-1]
    beta_param = self.param(
        "beta", _reparam_init(lambda s, d: jnp.ones(s, d)), (channels,))
    gamma_param = self.param(
        "gamma",
        _reparam_init(lambda s, d: self.gamma_init * jnp.eye(s[0], dtype=d)),
        (channels, channels))
    beta = effective_beta(beta_param, self.beta_min)
    gamma = effective_gamma(gamma_param)

    # gamma[i, j] weights input channel j in the norm of output channel i.
    # The pixels are flattened into one matrix first: XLA:CPU computes the
    # same product on a 4-D tensor, but its gradient (the reductions over
    # batch and space) 1.6x slower (8x128x128x128: 210 ms against 128 ms).
    pixels = x.reshape(-1, channels)
    if self.simplified:
      norm = jnp.abs(pixels) @ gamma.T + beta
    else:
      norm = jnp.sqrt(jnp.square(pixels) @ gamma.T + beta)
    y = pixels * norm if self.inverse else pixels / norm
    return y.reshape(x.shape)


def IGDN(**kwargs) -> GDN:  # pylint: disable=invalid-name
  return GDN(inverse=True, **kwargs)
