"""Minnen & Singh 2020: the slices and their support, the latent residual's
table, both h_s as one exact network, real files at the estimated rate."""

import numpy as np
import pytest

from test_he2021 import _image
from test_mbt2018 import _init, codec_of
from lic_jax.coding import integer_network, latent_codecs
from lic_jax.coding.integer_network import Activation
from lic_jax.coding.latent_codecs import channel_slices, half_tanh_fixed, half_tanh_table
from lic_jax.coding.model_codecs import ChannelwiseCodec
from lic_jax.models.base import bits_per_image
from lic_jax.models.transforms import HYPER_SYNTHESIS_LAYERS


def test_slices_are_the_papers_ten_and_as_even_as_the_channels_allow():
  assert channel_slices(320, 10) == (32,) * 10
  assert channel_slices(48, 10) == (5,) * 8 + (4,) * 2
  assert channel_slices(16, 10) == (2,) * 6 + (1,) * 4
  with pytest.raises(ValueError, match="16 latent channels cannot make 17 slices"):
    channel_slices(16, 17)


def test_the_residual_table_is_half_tanh_to_its_step():
  table = half_tanh_table()
  r = np.arange(-12 * 4096, 12 * 4096, 7, dtype=np.int32)  # -12 .. 12 in fixed point
  exact = 0.5 * np.tanh(r / 4096.0)
  error = np.abs(half_tanh_fixed(r, table) / 4096.0 - exact)
  # Half a step of r times the largest slope (1/2), plus the fixed point's rounding.
  assert error.max() <= 2.0**-(latent_codecs.HALF_TANH_BITS + 2) + 2.0**-13
  assert table.dtype == np.int32 and table[0] == -2048 and table[-1] == 2048
  assert np.all(np.diff(table) >= 0)


def test_a_slice_sees_the_first_k_slices_before_it_and_nothing_else():
  """Perturbing the symbols of slice j changes the y~ of slice i (i != j:
  its mean and residual) exactly when j < i and j < K (the support)."""
  model, params = _init("ms2020")
  slices = channel_slices(16, model.num_slices)
  bounds = np.cumsum((0,) + slices)
  rng = np.random.default_rng(0)
  q = rng.integers(-3, 4, (1, 4, 4, 16)).astype(np.float32)
  z = rng.normal(0, 1, (1, 1, 1, 16)).astype(np.float32)

  def predicted(q):
    """y~ - q: each slice's mean plus its latent residual."""
    y_hat, _ = model.apply({"params": params}, q, z,
                           method=lambda m, q, z: m.slices_latent.symbols(q, m.hyper_synthesis(z)))
    return np.asarray(y_hat) - q

  base = predicted(q)
  for j in range(len(slices)):
    changed = q.copy()
    changed[..., bounds[j]:bounds[j + 1]] += 2
    moved = np.abs(predicted(changed) - base).max(axis=(0, 1, 2)) > 0
    for i in range(len(slices)):
      if i != j:
        expected = j < i and j < model.max_support_slices
        assert moved[bounds[i]:bounds[i + 1]].any() == expected, (i, j)


def test_both_hyper_synthesis_branches_freeze_into_one_exact_network():
  """The block-diagonal network of the two h_s equals each h_s frozen alone,
  side by side, to the last bit."""
  _, params = _init("ms2020")
  merged = integer_network.Network(latent_codecs.integer_layers(
      ChannelwiseCodec.hyper_synthesis_params(params), HYPER_SYNTHESIS_LAYERS,
      Activation.RELU, Activation.RELU, transpose_strides=(2, 2)))
  alone = [integer_network.Network(latent_codecs.integer_layers(
      params["hyper_synthesis"][branch], HYPER_SYNTHESIS_LAYERS, Activation.RELU,
      Activation.RELU, transpose_strides=(2, 2))) for branch in ("scales", "means")]
  z = integer_network.to_fixed(np.random.default_rng(1).normal(0, 2, (3, 5, 16)))
  np.testing.assert_array_equal(merged(z), np.concatenate([net(z) for net in alone], -1))


def test_evaluation_codes_the_coders_symbols():
  """The float model's evaluation quantizes slice by slice as the coder
  does: its y~ is the coded y^ up to the fixed-point networks' rounding
  (mu within hundredths; a symbol of under 1% of the elements rounds the
  other way), and its rate is the model's rate of the coded symbols
  within 0.5%."""
  codec = codec_of("ms2020")
  image = _image(128, 192)
  (_, encoded), = codec.encode_with_latents(image[None])
  model, params = codec.model, codec.impl.params
  x = (image / 255.0).astype(np.float32)[None]

  def evaluate(m, x):
    y = m.analysis(x)
    hyper, _, z_likelihood = m.hyperprior(y, False)
    y_hat, y_likelihood = m.slices_latent(y, hyper, False)
    return y_hat, bits_per_image({"y": y_likelihood, "z": z_likelihood})

  y_hat, bits = model.apply({"params": params}, x, method=evaluate)
  difference = np.abs(np.asarray(y_hat)[0] - encoded["y_hat"])
  flipped = difference > 0.5
  assert flipped.mean() < 0.01 and np.percentile(difference[~flipped], 99) < 0.1
  z_hat = (encoded["z"] + codec.impl.hyper.z.medians)[None].astype(np.float32)
  coded_bits = model.apply({"params": params}, encoded["y"][None].astype(np.float32), z_hat,
                           method=model.coded_bits)
  assert abs(float(bits[0]) / float(coded_bits[0]) - 1) < 0.005
