"""Entropy bottleneck density and quantiles; Gaussian conditional vs scipy."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import stats

from lic_jax.entropy_models import EntropyBottleneck, GaussianConditional
from lic_jax.entropy_models import default_scale_table

C = 4


def _bottleneck(perturb: float = 0.0, seed: int = 0):
  eb = EntropyBottleneck(C)
  variables = eb.init({"params": jax.random.PRNGKey(seed), "noise": jax.random.PRNGKey(1)},
                      jnp.zeros((1, 2, 2, C)), training=True)
  params = variables["params"]
  if perturb:
    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(seed + 7), len(leaves))
    leaves = [l + perturb * jax.random.normal(k, l.shape) for l, k in zip(leaves, keys)]
    params = jax.tree_util.tree_unflatten(tree, leaves)
  return eb, params


@pytest.mark.parametrize("perturb", [0.0, 1.0])
def test_bottleneck_density_integrates_to_one(perturb):
  eb, params = _bottleneck(perturb)
  grid = jnp.linspace(-200.0, 200.0, 400_001)

  def cdf(x):  # x: scalar -> (C,)
    logits = eb.apply({"params": params}, jnp.full((C, 1), x), method=eb.logits_cumulative)
    return jax.nn.sigmoid(logits[:, 0])

  density = jax.vmap(jax.jacfwd(cdf))(grid)  # (points, C)
  assert float(jnp.min(density)) >= 0.0  # monotone cumulative
  integral = jnp.trapezoid(density, grid, axis=0)
  np.testing.assert_allclose(integral, np.ones(C), atol=1e-3)


def test_bottleneck_bin_probabilities_sum_to_one():
  eb, params = _bottleneck(perturb=0.5, seed=3)
  bins = jnp.arange(-300.0, 301.0)
  values = jnp.broadcast_to(bins[:, None], (bins.shape[0], C))
  lik = eb.apply({"params": params}, values, method=eb.likelihood)
  assert lik.shape == values.shape
  np.testing.assert_allclose(jnp.sum(lik, axis=0), np.ones(C), atol=1e-4)


def test_bottleneck_training_noise_and_inference_rounding():
  eb, params = _bottleneck()
  y = jax.random.normal(jax.random.PRNGKey(2), (2, 8, 8, C)) * 3
  noisy, lik = eb.apply({"params": params}, y, training=True,
                        rngs={"noise": jax.random.PRNGKey(3)})
  assert lik.shape == y.shape and bool(jnp.all(lik > 0)) and bool(jnp.all(lik <= 1))
  assert float(jnp.max(jnp.abs(noisy - y))) <= 0.5
  assert float(jnp.std(noisy - y)) > 0.2  # really U(-1/2, 1/2): std 0.289

  params = dict(params, quantiles=params["quantiles"].at[:, 1].set(0.3))
  hard, _ = eb.apply({"params": params}, y, training=False)
  offsets = hard - 0.3
  np.testing.assert_allclose(offsets, np.round(offsets), atol=1e-5)
  assert float(jnp.max(jnp.abs(hard - y))) <= 0.5 + 1e-6


def test_aux_loss_moves_quantiles_to_the_target_cumulatives():
  eb, params = _bottleneck(perturb=0.3)
  opt = optax.adam(0.1)
  state = opt.init(params)
  aux = jax.jit(jax.value_and_grad(lambda p: eb.apply({"params": p}, method=eb.aux_loss)))
  first, _ = aux(params)
  for _ in range(3000):
    value, grads = aux(params)
    updates, state = opt.update(grads, state)
    params = optax.apply_updates(params, updates)
  assert float(value) < 0.05 * float(first)
  # Only the quantiles may move under the auxiliary loss.
  assert all(bool(jnp.all(g == 0)) for k, g in grads.items() if k != "quantiles")
  cum = jax.nn.sigmoid(eb.apply({"params": params}, params["quantiles"],
                                method=eb.logits_cumulative))
  np.testing.assert_allclose(cum[:, 1], 0.5, atol=1e-3)
  assert float(jnp.max(cum[:, 0])) < 1e-6 and float(jnp.min(cum[:, 2])) > 1 - 1e-6


def test_scale_table():
  table = default_scale_table()
  assert table.shape == (64,)
  np.testing.assert_allclose([table[0], table[-1]], [0.11, 256.0], rtol=1e-6)
  np.testing.assert_allclose(np.diff(np.log(table)), np.log(256 / 0.11) / 63, rtol=1e-6)


def test_gaussian_likelihood_matches_scipy():
  rng = np.random.default_rng(0)
  n = 10_000
  means = rng.normal(0, 5, n).astype(np.float32)
  scales = np.exp(rng.uniform(np.log(0.11), np.log(60), n)).astype(np.float32)
  values = (np.round(means + rng.normal(0, 1, n) * scales * 2)).astype(np.float32)
  gc = GaussianConditional()
  lik = np.asarray(gc.apply({}, values, scales, means, method=gc.likelihood))
  expected = (stats.norm.cdf(values + 0.5, means, scales)
              - stats.norm.cdf(values - 0.5, means, scales))
  expected = np.maximum(expected, 1e-9)
  np.testing.assert_allclose(lik, expected, rtol=1e-4, atol=1e-7)


def test_gaussian_scale_is_bounded_by_the_table_minimum():
  gc = GaussianConditional()
  tiny = gc.apply({}, jnp.zeros(3), jnp.array([1e-6, 0.01, 0.11]), method=gc.likelihood)
  np.testing.assert_allclose(tiny, np.full(3, tiny[2]), rtol=1e-6)


def test_gaussian_quantizes_around_means():
  gc = GaussianConditional()
  y = jnp.array([0.2, 1.7, -2.6])
  means = jnp.array([0.5, 0.5, 0.5])
  hard, _ = gc.apply({}, y, jnp.ones(3), means, training=False)
  np.testing.assert_allclose(hard, [0.5, 1.5, -2.5], atol=1e-6)
  with pytest.raises(ValueError, match="one shape"):
    gc.apply({}, y, jnp.ones(2), training=False)
