"""Lower bound with the gradient rule of Balle et al. (2018), appendix 6.1.

A plain `jnp.maximum(x, bound)` has zero gradient below the bound, so a
parameter that falls under it can never come back. `lower_bound` passes the
gradient through whenever it would move `x` *up* towards the valid region.
"""

import jax
import jax.numpy as jnp


def lower_bound(x: jax.Array, bound: float | jax.Array) -> jax.Array:
  """max(x, bound), with the gradient passed through when it raises x."""
  x = jnp.asarray(x)
  return _lower_bound(x, jnp.asarray(bound, x.dtype))


@jax.custom_vjp
def _lower_bound(x: jax.Array, bound: jax.Array) -> jax.Array:
  return jnp.maximum(x, bound)


def _lower_bound_fwd(x, bound):
  return jnp.maximum(x, bound), (x, bound)


def _lower_bound_bwd(residuals, g):
  x, bound = residuals
  # Gradient descent moves x by -g: let it through if x is valid or -g > 0.
  pass_through = (x >= bound) | (g < 0)
  grad_x = jnp.where(pass_through, g, 0.0).astype(x.dtype)
  return grad_x, jnp.zeros_like(bound)


_lower_bound.defvjp(_lower_bound_fwd, _lower_bound_bwd)
