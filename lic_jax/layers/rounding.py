"""Rounding with the straight-through gradient (Bengio et al. 2013): the
forward pass rounds, the backward pass is the identity. Minnen & Singh 2020
feed the rounded latents to g_s and to the next slices' context this way,
and the split-computing and grouping units quantize their features so."""

import jax
import jax.numpy as jnp


def ste_round(x: jax.Array) -> jax.Array:
  """round(x) forward, the identity backward (straight-through estimator)."""
  return x + jax.lax.stop_gradient(jnp.round(x) - x)
