"""CBANet-AR (lic_jax.cbanet.model, on mbt2018): the causal BAL on the
context, the base rate without BAMs, exact shrinking, bit-exact files at
every (bitrate, K), and its training stages."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lic_jax.cbanet.codec import exact_shrink, shrink_table
from lic_jax.cbanet.model import BitrateAdaptiveLayer
from lic_jax.coding import integer_network
from lic_jax.models import build_model

SPEC = {"name": "cbanet_ar", "num_filters": 16, "num_latents": 16, "num_rates": 2,
        "bam_width": 8}


def _perturbed(params, seed=10):
  """The BAMs moved away from their initialization (trained-looking: their
  CNNs then depend on their input)."""
  params = dict(params)
  for j in range(SPEC["num_rates"] - 1):
    leaves, tree = jax.tree_util.tree_flatten(params[f"bams_{j}"])
    keys = jax.random.split(jax.random.PRNGKey(seed + j), len(leaves))
    params[f"bams_{j}"] = jax.tree_util.tree_unflatten(
        tree, [v + 0.05 * jax.random.normal(k, v.shape) for k, v in zip(keys, leaves)])
  return params


@pytest.fixture(scope="module")
def tiny():
  model = build_model(**{k: v for k, v in SPEC.items() if k != "name"}, name="cbanet_ar")
  x = jax.random.uniform(jax.random.PRNGKey(0), (1, 64, 64, 3))
  keys = {"params": jax.random.PRNGKey(1), "noise": jax.random.PRNGKey(2)}
  return model, x, _perturbed(model.init(keys, x, training=True)["params"])


@pytest.fixture(scope="module")
def tiny_codec(tiny):
  from lic_jax.codec import Codec  # pylint: disable=g-import-not-at-top
  return Codec.from_params(SPEC, tiny[2])


def _image(h=70, w=90, seed=0):
  return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


def test_the_parameters_of_a_latent_depend_only_on_the_latents_before_it(tiny):
  """At a BAM's bitrate (BAL_phi on the context), changing y~ at one position
  changes no (scale, mean) at that position or before it in raster order:
  a decoder can compute them. With the paper's 5x5 depthwise layers in
  BAL_phi's CNN it could not: the same change then reaches earlier positions."""
  model, _, params = tiny
  rng = np.random.default_rng(0)
  y_hat = jnp.asarray(rng.integers(-4, 5, (1, 8, 8, 16)), jnp.float32)
  z_hat = jnp.asarray(rng.integers(-2, 3, (1, 2, 2, 16)), jnp.float32)
  row, col = 3, 2
  changed = y_hat.at[0, row, col, 5].add(3.0)
  order = np.arange(8 * 8).reshape(8, 8)
  before = order <= order[row, col]

  def parameters(y, rate):
    scales, means = model.apply({"params": params}, y, z_hat, rate,
                                method=model.latent_parameters)
    return np.concatenate([scales, means], -1)[0]

  for rate in (0, 1):
    moved = np.any(parameters(y_hat, rate) != parameters(changed, rate), axis=-1)
    assert not moved[before].any(), rate
    assert moved[~before].any(), rate
  # The non-causal B: the context of the next position (which reads the
  # changed latent) leaks into this one's shrink.
  layer = BitrateAdaptiveLayer(8, kernel_size=5)
  context = jax.random.normal(jax.random.PRNGKey(3), (1, 6, 7, 32))
  variables = layer.init(jax.random.PRNGKey(4), context)
  variables = jax.tree_util.tree_map(lambda v: v + 0.1, variables)
  bumped = context.at[0, row, col + 1].add(1.0)
  assert np.any(layer.apply(variables, context)[0, row, col]
                != layer.apply(variables, bumped)[0, row, col])


def test_the_base_rate_uses_no_bam_and_a_bam_rate_codes_fewer_bits(tiny):
  model, x, params = tiny
  bumped = {**params, "bams_0": jax.tree_util.tree_map(lambda p: p + 0.5, params["bams_0"])}
  for k in (1, 2, 3):
    base = model.apply({"params": params}, x, num_branches=k)
    same = model.apply({"params": bumped}, x, num_branches=k)
    np.testing.assert_array_equal(base["x_hat"], same["x_hat"])
    np.testing.assert_array_equal(base["bits"], same["bits"])
  low = model.apply({"params": params}, x, rate=0)
  assert not np.array_equal(low["bits"], model.apply({"params": bumped}, x, rate=0)["bits"])
  assert float(low["bits"][0]) < float(model.apply({"params": params}, x)["bits"][0])


def test_exact_shrink_is_the_int64_product_for_any_int32_value():
  """exact_shrink in int32 limbs (jitted in the wavefront step, or on the
  host) against the plain int64 formula, over the extremes of both inputs."""
  table = shrink_table()
  assert table.max() == 1 << 16 and table.min() >= 0
  rng = np.random.default_rng(0)
  values = np.concatenate([rng.integers(-2**31, 2**31, 20000),
                           [-2**31, 2**31 - 1, -1, 0, 1, 65535, -65536]]).astype(np.int32)
  b = np.concatenate([rng.integers(-2**31, 2**31, 10000), rng.integers(-70000, 70000, 10000),
                      [-2**31, 2**31 - 1, 0, -65536, 65536, 65535, -65535]]).astype(np.int32)
  index = (np.clip(b.astype(np.int64), -65536, 65536) + 65536 + 8) >> 4
  expected = (values.astype(np.int64) * table[index]) >> 16
  np.testing.assert_array_equal(np.asarray(exact_shrink(values, b, table)), expected)
  jitted = jax.jit(exact_shrink)(values, b, jnp.asarray(table, jnp.int32))
  np.testing.assert_array_equal(np.asarray(jitted), expected)
  # 1 - sigmoid(b) to the table's precision: b rounded to 2^-8 (the slope
  # is at most 1/4), the factor to 2^-16; b = -16 .. 16.
  reals = np.linspace(-16, 16, 101)
  shrunk = integer_network.from_fixed(exact_shrink(
      np.full(101, 1 << 16, np.int32), integer_network.to_fixed(reals), table))
  np.testing.assert_allclose(shrunk, 16.0 / (1.0 + np.exp(reals)),
                             rtol=0, atol=16 * (2**-11 + 2**-16))


def test_every_bitrate_and_complexity_level_round_trips_bit_exactly(tiny_codec):
  """Files of both bitrates decode at K = 1..3 to the coded latents, their
  means and scale indexes from the integer wavefront (BAL_phi inside it);
  the image is the model's IBAL and CAM at (j, K) on them. (How close a
  file comes to the model's rate is measured on the trained model, Kodak.)"""
  from lic_jax.coding import container  # pylint: disable=g-import-not-at-top
  codec, model = tiny_codec, tiny_codec.model
  variables = {"params": codec.impl.params}
  img = _image()
  sizes = []
  for j in range(2):
    (data, coded), = codec.encode_with_latents(img[None], rate=j)
    assert container.unpack(data)[0].bitrate == (j, 2)
    for k in (1, 2, 3):
      recon, decoded = codec.decode_with_latents(data, complexity=k)
      for name in ("z", "y", "y_hat"):
        np.testing.assert_array_equal(decoded[name], coded[name])
      x_hat = model.apply(variables, jnp.asarray(decoded["y_hat"][None]),
                          method=lambda m, y, j=j, k=k: m.cam(m.inverse_bitrate(y, j), k))
      np.testing.assert_allclose(recon, np.clip(x_hat[0, :70, :90], 0, 1), atol=1e-5)
    sizes.append(len(data))
  assert sizes[0] < sizes[1]


def test_the_integer_entropy_parameters_follow_the_float_ones(tiny_codec):
  """The means the wavefront coded with (y^ - q, exact) at the BAM's bitrate,
  through the integer BAL_psi and BAL_phi, against the float model's."""
  codec, model = tiny_codec, tiny_codec.model
  (_, coded), = codec.encode_with_latents(_image()[None], rate=0)
  z_hat = (coded["z"] + codec.impl.hyper.z.medians)[None].astype(np.float32)
  _, means = model.apply({"params": codec.impl.params}, coded["y_hat"][None], z_hat, 0,
                         method=model.latent_parameters)
  coded_means = coded["y_hat"] - coded["y"]
  error = np.abs(coded_means - means[0]).max()
  assert error < 5e-3, error
  # ... and they are the BAM's (the base's are several times as far off).
  _, base_means = model.apply({"params": codec.impl.params}, coded["y_hat"][None], z_hat, 1,
                              method=model.latent_parameters)
  assert np.abs(coded_means - base_means[0]).max() > 5 * error


def test_a_bitrate_or_level_the_model_lacks_is_a_clear_error(tiny_codec):
  data = tiny_codec.compress(_image(64, 64), rate=0)
  with pytest.raises(ValueError, match="complexity level K=4 does not exist"):
    tiny_codec.decompress(data, complexity=4)
  with pytest.raises(ValueError, match=r"bitrate index 2 does not exist: this model has "
                                       r"bitrates 0..1 \(1 is the base\)"):
    tiny_codec.compress(_image(64, 64), rate=2)
