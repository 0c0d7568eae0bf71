"""GDN/IGDN against the formula, reparameterization bounds, sub-pixel deconv."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lic_jax.layers import GDN, IGDN, Conv, ConvTranspose, lower_bound
from lic_jax.layers.conv import (conv_transpose_padding, narrow_conv_transpose,
                                 phase_conv_transpose, scatter_conv_transpose,
                                 strided_conv, subpixel_conv_transpose)

FAST_FORMS = [scatter_conv_transpose, subpixel_conv_transpose, phase_conv_transpose,
              narrow_conv_transpose]
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


@pytest.mark.parametrize("inverse", [False, True])
def test_gdn_gradients_match_the_formula(inverse):
  """GDN flattens the pixels for its product (faster to differentiate on
  XLA:CPU): its gradients are the 4-D formula's."""
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(2, 5, 7, 6)), jnp.float32)
  params, _, _ = _random_gdn_params(6, rng)
  module = GDN(inverse=inverse)

  def formula(params, x):
    beta, gamma = effective_beta(params["beta"], module.beta_min), effective_gamma(params["gamma"])
    norm = jnp.sqrt(jnp.einsum("ij,bhwj->bhwi", gamma, jnp.square(x)) + beta)
    return jnp.sum(jnp.sin(x * norm if inverse else x / norm))

  ours = jax.grad(lambda p, x: jnp.sum(jnp.sin(module.apply({"params": p}, x))), (0, 1))
  for a, b in zip(jax.tree_util.tree_leaves(ours(params, x)),
                  jax.tree_util.tree_leaves(jax.grad(formula, (0, 1))(params, x))):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


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


@pytest.mark.parametrize("form", FAST_FORMS)
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


@pytest.mark.parametrize("form", FAST_FORMS)
@pytest.mark.parametrize("kernel_size,stride", [(5, 2), (3, 2), (4, 2), (5, 3)])
def test_fast_form_gradients_equal_conv_transpose_gradients(form, kernel_size, stride):
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 6, 5, 4))
  w = jax.random.normal(jax.random.PRNGKey(1), (kernel_size, kernel_size, 4, 3)) * 0.1
  pad = conv_transpose_padding(kernel_size, stride)

  def reference(x, w):
    return jnp.sum(jnp.sin(jax.lax.conv_transpose(
        x, w, (stride, stride), (pad, pad), dimension_numbers=("NHWC", "HWIO", "NHWC"))))

  def ours(x, w):
    return jnp.sum(jnp.sin(form(x, w, stride)))

  value, grads = jax.jit(jax.value_and_grad(ours, (0, 1)))(x, w)
  np.testing.assert_allclose(value, reference(x, w), rtol=1e-5)
  for a, b in zip(grads, jax.grad(reference, (0, 1))(x, w)):
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_narrow_form_evaluates_scatter_and_differentiates_subpixel():
  """Decoding (plain evaluation) runs the scatter form, training the sub-pixel
  form: the narrow layer's values and gradients are exactly theirs."""
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 7, 5, 8))
  w = jax.random.normal(jax.random.PRNGKey(1), (5, 5, 8, 3)) * 0.1
  np.testing.assert_array_equal(jax.jit(narrow_conv_transpose, static_argnums=2)(x, w, 2),
                                jax.jit(scatter_conv_transpose, static_argnums=2)(x, w, 2))
  loss = lambda form: lambda x, w: jnp.sum(jnp.sin(form(x, w, 2)))  # noqa: E731
  narrow = jax.jit(jax.value_and_grad(loss(narrow_conv_transpose), (0, 1)))(x, w)
  subpixel = jax.jit(jax.value_and_grad(loss(subpixel_conv_transpose), (0, 1)))(x, w)
  for a, b in zip(jax.tree_util.tree_leaves(narrow), jax.tree_util.tree_leaves(subpixel)):
    np.testing.assert_array_equal(a, b)


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
  units' depthwise upsampler, lic_jax.split.model)."""
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


class _FlaxConv(nn.Module):
  """Conv as it was written before strided_conv: flax's nn.Conv named 'conv'."""

  features: int
  kernel_size: int
  stride: int

  @nn.compact
  def __call__(self, x):
    pad = self.kernel_size // 2
    return nn.Conv(self.features, (self.kernel_size,) * 2, strides=(self.stride,) * 2,
                   padding=((pad, pad), (pad, pad)), name="conv")(x)


@pytest.mark.parametrize("channels", [4, 20])  # the input gradient's narrow and wide forms
@pytest.mark.parametrize("height,width,kernel_size,stride", [
    (16, 16, 5, 2), (7, 9, 5, 2), (9, 6, 3, 2), (8, 8, 3, 1), (10, 11, 5, 3), (9, 10, 4, 2)])
def test_conv_equals_flax_conv_in_values_and_gradients(channels, height, width, kernel_size,
                                                       stride):
  """Same parameters (names, shapes, initial values: checkpoints and coding
  tables carry over), the same forward bit for bit, equal gradients."""
  x = jax.random.normal(jax.random.PRNGKey(0), (2, height, width, channels))
  ours, flax_conv = Conv(6, kernel_size, stride), _FlaxConv(6, kernel_size, stride)
  variables = ours.init(jax.random.PRNGKey(1), x)
  jax.tree_util.tree_map(np.testing.assert_array_equal, variables,
                         flax_conv.init(jax.random.PRNGKey(1), x))
  np.testing.assert_array_equal(jax.jit(ours.apply)(variables, x),
                                jax.jit(flax_conv.apply)(variables, x))
  loss = lambda module: lambda v, x: jnp.sum(jnp.sin(module.apply(v, x)))  # noqa: E731
  for a, b in zip(jax.tree_util.tree_leaves(jax.grad(loss(ours), (0, 1))(variables, x)),
                  jax.tree_util.tree_leaves(jax.grad(loss(flax_conv), (0, 1))(variables, x))):
    np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("channels", [4, 20])
@pytest.mark.parametrize("height,width,kernel_size,stride", [
    (16, 16, 5, 2), (7, 9, 5, 2), (9, 6, 3, 2), (10, 11, 5, 3), (9, 10, 4, 2)])
def test_strided_conv_gradients_equal_autodiff(channels, height, width, kernel_size, stride):
  """The input gradient as a transposed convolution (of either width's form)
  equals autodiff of the plain convolution, at every size parity."""
  x = jax.random.normal(jax.random.PRNGKey(0), (2, height, width, channels))
  w = jax.random.normal(jax.random.PRNGKey(1), (kernel_size, kernel_size, channels, 5)) * 0.1
  pad = kernel_size // 2

  def reference(x, w):
    return jax.lax.conv_general_dilated(x, w, (stride, stride), ((pad, pad), (pad, pad)),
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))

  np.testing.assert_array_equal(strided_conv(x, w, stride), reference(x, w))
  loss = lambda f: lambda x, w: jnp.sum(jnp.sin(f(x, w)))  # noqa: E731
  for a, b in zip(jax.grad(loss(lambda x, w: strided_conv(x, w, stride)), (0, 1))(x, w),
                  jax.grad(loss(reference), (0, 1))(x, w)):
    np.testing.assert_allclose(a, b, atol=1e-5)
