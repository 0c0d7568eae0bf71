"""GDN/IGDN against the formula, reparameterization bounds, sub-pixel deconv."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lic_jax.layers import GDN, IGDN, ConvTranspose, lower_bound
from lic_jax.layers.conv import (conv_transpose_padding, phase_conv_transpose,
                                 scatter_conv_transpose)
from lic_jax.layers.gdn import effective_beta, effective_gamma


def _random_gdn_params(channels, rng):
  beta = rng.uniform(0.5, 2.0, channels)
  gamma = rng.uniform(0.0, 0.3, (channels, channels))
  pedestal = 2.0**-36
  params = {"beta": jnp.sqrt(beta + pedestal), "gamma": jnp.sqrt(gamma + pedestal)}
  return params, beta, gamma


@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("simplified", [False, True])
def test_gdn_matches_numpy_formula(inverse, simplified):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, 5, 7, 6)).astype(np.float32)
  params, beta, gamma = _random_gdn_params(6, rng)
  y = GDN(inverse=inverse, simplified=simplified).apply({"params": params}, x)

  if simplified:
    norm = beta + np.einsum("ij,bhwj->bhwi", gamma, np.abs(x))
  else:
    norm = np.sqrt(beta + np.einsum("ij,bhwj->bhwi", gamma, x.astype(np.float64) ** 2))
  expected = x * norm if inverse else x / norm
  np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_gdn_initialization():
  x = jnp.ones((1, 4, 4, 5))
  params = GDN().init(jax.random.PRNGKey(0), x)["params"]
  np.testing.assert_allclose(effective_beta(params["beta"], 1e-6), np.ones(5), rtol=1e-6)
  np.testing.assert_allclose(effective_gamma(params["gamma"]), 0.1 * np.eye(5),
                             atol=1e-7)
  # With gamma = 0.1 I and beta = 1: y = x / sqrt(1 + 0.1 x^2).
  np.testing.assert_allclose(GDN().apply({"params": params}, x), 1 / np.sqrt(1.1) * x,
                             rtol=1e-6)
  np.testing.assert_allclose(IGDN().apply({"params": params}, x), np.sqrt(1.1) * x,
                             rtol=1e-6)


def test_reparameterization_bounds_hold_after_negative_updates():
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 4))
  module = GDN()
  params = module.init(jax.random.PRNGKey(1), x)["params"]
  opt = optax.sgd(1.0)
  state = opt.init(params)

  # A loss that wants beta and gamma as negative as possible.
  def loss(p):
    beta = effective_beta(p["beta"], 1e-6)
    gamma = effective_gamma(p["gamma"])
    return jnp.sum(beta) + jnp.sum(gamma) + jnp.sum(module.apply({"params": p}, x) ** 2)

  for _ in range(20):
    grads = jax.grad(loss)(params)
    updates, state = opt.update(grads, state)
    params = optax.apply_updates(params, updates)
  # The stored parameters were pushed below their bounds ...
  assert float(jnp.min(params["beta"])) < 1e-3
  # ... but the effective ones stay valid and the layer stays finite.
  assert float(jnp.min(effective_beta(params["beta"], 1e-6))) >= 1e-6 * (1 - 1e-3)
  assert float(jnp.min(effective_gamma(params["gamma"]))) >= 0.0
  assert bool(jnp.all(jnp.isfinite(module.apply({"params": params}, x))))


def test_lower_bound_gradient_lets_values_recover():
  g_down = jax.grad(lambda v: lower_bound(v, 1.0))(0.5)  # loss grows with v: blocked
  g_up = jax.grad(lambda v: -lower_bound(v, 1.0))(0.5)   # loss falls with v: passes
  g_valid = jax.grad(lambda v: lower_bound(v, 1.0))(2.0)
  assert float(g_down) == 0.0 and float(g_up) == -1.0 and float(g_valid) == 1.0


@pytest.mark.parametrize("form", [scatter_conv_transpose, phase_conv_transpose])
@pytest.mark.parametrize("kernel_size,stride", [(5, 2), (3, 2), (3, 1), (4, 2), (5, 3)])
def test_fast_forms_equal_conv_transpose(form, kernel_size, stride):
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 9, 6, 8))
  w = jax.random.normal(jax.random.PRNGKey(1), (kernel_size, kernel_size, 8, 5)) * 0.1
  pad = conv_transpose_padding(kernel_size, stride)
  reference = jax.lax.conv_transpose(x, w, (stride, stride), (pad, pad),
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
  ours = form(x, w, stride)
  assert ours.shape == (2, 9 * stride, 6 * stride, 5)
  np.testing.assert_allclose(ours, reference, atol=1e-5)


@pytest.mark.parametrize("form", [scatter_conv_transpose, phase_conv_transpose])
def test_fast_form_gradients_equal_conv_transpose_gradients(form):
  x = jax.random.normal(jax.random.PRNGKey(0), (1, 6, 6, 4))
  w = jax.random.normal(jax.random.PRNGKey(1), (5, 5, 4, 3)) * 0.1
  pad = conv_transpose_padding(5, 2)

  def reference(x, w):
    return jnp.sum(jnp.sin(jax.lax.conv_transpose(
        x, w, (2, 2), (pad, pad), dimension_numbers=("NHWC", "HWIO", "NHWC"))))

  def ours(x, w):
    return jnp.sum(jnp.sin(form(x, w, 2)))

  for a, b in zip(jax.grad(ours, (0, 1))(x, w), jax.grad(reference, (0, 1))(x, w)):
    np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("features", [3, 32])  # both fast forms
def test_conv_transpose_module_matches_lax(features):
  x = jax.random.normal(jax.random.PRNGKey(0), (1, 4, 6, 8))
  module = ConvTranspose(features)
  params = module.init(jax.random.PRNGKey(1), x)["params"]
  assert params["kernel"].shape == (5, 5, 8, features)
  pad = conv_transpose_padding(5, 2)
  reference = jax.lax.conv_transpose(x, params["kernel"], (2, 2), (pad, pad),
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
  out = module.apply({"params": params}, x)
  assert out.shape == (1, 8, 12, features)
  np.testing.assert_allclose(out, reference + params["bias"], atol=1e-5)


# PyTorch's ConvTranspose2d(k, stride=2, padding=p) as used by the OHM MNIST
# decoder (3 -> 7 -> 15 -> 28): lo = hi = k - 1 - p.
@pytest.mark.parametrize("kernel_size,torch_padding,size,expected", [
    (3, 0, 3, 7), (5, 1, 7, 15), (2, 1, 15, 28), (4, 0, 5, 12)])
def test_phase_form_with_explicit_padding_equals_conv_transpose(kernel_size, torch_padding,
                                                                 size, expected):
  x = jax.random.normal(jax.random.PRNGKey(0), (2, size, size + 1, 4))
  w = jax.random.normal(jax.random.PRNGKey(1), (kernel_size, kernel_size, 4, 3)) * 0.1
  pad = (kernel_size - 1 - torch_padding,) * 2

  def reference(x, w):
    return jax.lax.conv_transpose(x, w, (2, 2), (pad, pad),
                                  dimension_numbers=("NHWC", "HWIO", "NHWC"))

  ours = phase_conv_transpose(x, w, 2, pad)
  assert ours.shape == (2, expected, reference(x, w).shape[2], 3)
  np.testing.assert_allclose(ours, reference(x, w), atol=1e-5)
  loss = lambda f: lambda x, w: jnp.sum(jnp.sin(f(x, w)))  # noqa: E731
  for a, b in zip(jax.grad(loss(lambda x, w: phase_conv_transpose(x, w, 2, pad)), (0, 1))(x, w),
                  jax.grad(loss(reference), (0, 1))(x, w)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("kernel_size,stride", [(3, 2), (4, 4), (6, 6)])
def test_depthwise_phase_form_equals_per_channel_conv_transpose(kernel_size, stride):
  """groups = C: each channel's own transposed convolution (the bottleneck
  units' depthwise upsampler, lic_jax.models.split)."""
  channels = 5
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 3, 4, channels))
  w = jax.random.normal(jax.random.PRNGKey(1), (kernel_size, kernel_size, 1, channels))
  pad = conv_transpose_padding(kernel_size, stride)
  reference = jnp.concatenate([
      jax.lax.conv_transpose(x[..., c:c + 1], w[..., c:c + 1], (stride, stride), (pad, pad),
                             dimension_numbers=("NHWC", "HWIO", "NHWC"))
      for c in range(channels)], axis=-1)
  ours = phase_conv_transpose(x, w, stride, groups=channels)
  assert ours.shape == (2, 3 * stride, 4 * stride, channels)
  np.testing.assert_allclose(ours, reference, atol=1e-5)
