"""Model shapes, rates equal to -sum log2 likelihoods, published widths."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lic_jax.models import build_model


def _init(model, shape=(2, 64, 64, 3)):
  x = jax.random.uniform(jax.random.PRNGKey(0), shape)
  params = model.init({"params": jax.random.PRNGKey(1), "noise": jax.random.PRNGKey(2)},
                      x, training=True)["params"]
  return x, params


def _count(tree) -> int:
  return sum(int(np.prod(l.shape)) for l in jax.tree_util.tree_leaves(tree))


@pytest.mark.parametrize("name,latents", [("bls2017", {"y": (2, 4, 4, 12)}),
                                          ("bmshj2018", {"y": (2, 4, 4, 12),
                                                         "z": (2, 1, 1, 8)})])
@pytest.mark.parametrize("training", [True, False])
def test_forward_shapes_and_rate(name, latents, training):
  model = build_model(name, num_filters=8, num_latents=12)
  x, params = _init(model)
  out = model.apply({"params": params}, x, training=training,
                    rngs={"noise": jax.random.PRNGKey(3)})
  assert out["x_hat"].shape == x.shape
  assert {k: v.shape for k, v in out["likelihoods"].items()} == latents
  expected_bits = sum(np.sum(-np.log2(np.asarray(l, np.float64)), axis=(1, 2, 3))
                      for l in out["likelihoods"].values())
  assert out["bits"].shape == (2,)
  np.testing.assert_allclose(out["bits"], expected_bits, rtol=1e-5)


def test_inference_is_deterministic_and_quantized():
  model = build_model("bmshj2018", num_filters=8, num_latents=12)
  x, params = _init(model)
  a = model.apply({"params": params}, x, training=False)
  b = model.apply({"params": params}, x, training=False)
  np.testing.assert_array_equal(a["x_hat"], b["x_hat"])
  np.testing.assert_array_equal(a["bits"], b["bits"])

  def latent(m, x):
    return m.gaussian_conditional.quantize(m.analysis(x))

  y_hat = model.apply({"params": params}, x, method=latent)
  np.testing.assert_array_equal(y_hat, np.round(y_hat))


@pytest.mark.parametrize("name,n,m,compressai_count,bottleneck_channels", [
    ("bmshj2018", 128, 192, 5_075_843, 128),
    ("bmshj2018", 192, 320, 11_816_323, 192),
    ("bls2017", 128, 128, 2_584_579, 128),
])
def test_published_widths_parameter_count(name, n, m, compressai_count,
                                          bottleneck_channels):
  # Same layers as CompressAI's ScaleHyperprior / FactorizedPrior, except its
  # entropy bottleneck uses filters (3, 3, 3, 3): one hidden layer (15
  # parameters per channel) more than the (3, 3, 3) of Balle 2018, app. 6.1.
  expected = compressai_count - 15 * bottleneck_channels
  model = build_model(name, num_filters=n, num_latents=m)
  shapes = jax.eval_shape(lambda: model.init(
      {"params": jax.random.PRNGKey(0), "noise": jax.random.PRNGKey(0)},
      jnp.zeros((1, 64, 64, 3)), training=True))["params"]
  assert _count(shapes) == expected


def test_bad_inputs_raise_clear_errors():
  model = build_model("bmshj2018", num_filters=8, num_latents=12)
  _, params = _init(model)
  with pytest.raises(ValueError, match="not a multiple of 64"):
    model.apply({"params": params}, jnp.zeros((1, 60, 64, 3)))
  with pytest.raises(ValueError, match=r"\(B, H, W, 3\)"):
    model.apply({"params": params}, jnp.zeros((64, 64, 3)))
  with pytest.raises(ValueError, match="float pixels"):
    model.apply({"params": params}, jnp.zeros((1, 64, 64, 3), jnp.uint8))
  with pytest.raises(ValueError, match="unknown model 'nope'"):
    build_model("nope")
