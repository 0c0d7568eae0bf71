"""The fixed-point networks that decide how symbols are coded: exact integers
(equal to an int64 reference, whatever the evaluation order), within the
bounds that make float32 exact, and close to the float networks they freeze."""

import dataclasses

import numpy as np
import pytest

from lic_jax.coding import integer_network
from lic_jax.coding.integer_network import (ACTIVATION_LIMIT, COLUMN_BUDGET, TILE, Activation,
                                            Network)


def int64_network(layers, x: np.ndarray) -> np.ndarray:
  """The networks' definition (module docstring of integer_network) in int64."""
  x = np.asarray(x, np.int64)
  for layer in layers:
    k = layer.kernel.shape[0]
    lo, hi = layer.pad
    xp = np.pad(np.clip(x, -ACTIVATION_LIMIT, ACTIVATION_LIMIT), ((lo, hi), (lo, hi), (0, 0)))
    h, w = x.shape[:2]
    patches = np.concatenate([xp[i:i + h, j:j + w] for i in range(k) for j in range(k)], -1)
    acc = patches @ layer.matrix.astype(np.int64) + layer.bias
    x = acc >> layer.shift  # floor division by 2^s
    if layer.activation == Activation.RELU:
      x = np.maximum(x, 0)
    elif layer.activation == Activation.LEAKY_RELU:
      x = np.where(x >= 0, x, (x * integer_network.LEAKY_SLOPE_NUMERATOR)
                   >> integer_network.LEAKY_SLOPE_SHIFT)
    if layer.depth_to_space > 1:
      b = layer.depth_to_space
      h, w, c = x.shape
      x = x.reshape(h, w, b, b, c // (b * b)).transpose(0, 2, 1, 3, 4).reshape(
          h * b, w * b, c // (b * b))
  return x


def _layers(rng, widths=(24, 40, 48)):
  """transposed conv, transposed conv, 3x3 conv with large float weights (small
  shifts), then a 1x1 conv with small ones (large shifts)."""
  c0, c1, c2 = widths
  return [
      integer_network.quantize_conv(rng.normal(0, 0.3, (5, 5, c0, c1)),
                                    rng.normal(0, 2, c1), Activation.LEAKY_RELU, 2),
      integer_network.quantize_conv(rng.normal(0, 0.1, (5, 5, c1, c2)),
                                    rng.normal(0, 2, c2), Activation.RELU, 2),
      integer_network.quantize_conv(rng.normal(0, 0.1, (3, 3, c2, 2 * c2)),
                                    rng.normal(0, 2, 2 * c2), Activation.LEAKY_RELU),
      integer_network.quantize_conv(rng.normal(0, 1e-3, (1, 1, 2 * c2, 2 * c2)),
                                    rng.normal(0, 0.01, 2 * c2), Activation.NONE),
  ]


def test_frozen_layers_stay_within_the_exactness_bounds():
  for layer in _layers(np.random.default_rng(0)):
    assert np.abs(layer.matrix).sum(0).max() <= COLUMN_BUDGET
    # The largest shift that fits was taken: one more would double the sums.
    assert np.abs(layer.matrix).sum(0).min() > 0.45 * COLUMN_BUDGET
    assert np.abs(layer.bias).max() < 1 << 29 and layer.shift.min() >= 3
    assert np.array_equal(layer.matrix, np.round(layer.matrix))


def test_network_equals_int64_reference_even_at_the_clamp():
  rng = np.random.default_rng(1)
  layers = _layers(rng)
  x = rng.integers(-ACTIVATION_LIMIT, ACTIVATION_LIMIT + 1, (3, 4, 24))
  x[0, 0] = ACTIVATION_LIMIT     # every input at the limit: the largest sums
  x[0, 1] = -ACTIVATION_LIMIT
  x[1, 1] = 5 * ACTIVATION_LIMIT  # clamped
  shifts = np.concatenate([layer.shift for layer in layers])
  assert shifts.min() < 10 <= shifts.max()  # both ways of `finish`
  ours = Network(layers)(x)
  assert ours.dtype == np.int32 and ours.shape == (12, 16, 96)
  np.testing.assert_array_equal(ours, int64_network(layers, x))


def test_tiles_join_exactly_and_new_sizes_do_not_recompile():
  # Inputs larger than a tile in both directions, of sizes that are no
  # multiple of it: the tiles' halos cover the receptive field, so the
  # result is the whole-input int64 reference, and every such size runs the
  # one compiled TILE x TILE program.
  rng = np.random.default_rng(4)
  layers = _layers(rng, widths=(8, 12, 8))
  network = Network(layers)
  assert network.halo == 2 and network.upsampling == 4
  network(rng.integers(-5000, 5000, (TILE + 1, TILE + 1, 8)))
  compiled = integer_network._apply_tile._cache_size()  # pylint: disable=protected-access
  for size in [(37, 21), (TILE + 3, 2 * TILE + 5), (49, 17)]:
    x = rng.integers(-ACTIVATION_LIMIT, ACTIVATION_LIMIT + 1, (*size, 8))
    ours = network(x)
    assert ours.shape == (4 * size[0], 4 * size[1], 16)
    np.testing.assert_array_equal(ours, int64_network(layers, x))
  assert integer_network._apply_tile._cache_size() == compiled  # pylint: disable=protected-access


@pytest.mark.parametrize("rows", [1, 5, 12, 13, 40])
def test_dense_rows_equal_int64_reference_whether_halves_are_stacked_or_not(rows):
  # Up to _STACKED_ROWS_MAX rows (a wavefront step) both halves of the
  # activations share one product; more rows take two.
  rng = np.random.default_rng(3)
  layer = _layers(rng)[2]
  flat = dataclasses.replace(layer, kernel=layer.matrix[None, None], pad=(0, 0))
  x = rng.integers(-ACTIVATION_LIMIT, ACTIVATION_LIMIT + 1, (rows, flat.kernel.shape[2]))
  x[0, :] = ACTIVATION_LIMIT if rows % 2 else -ACTIVATION_LIMIT  # the largest sums
  ours = integer_network.dense(integer_network.to_device(flat), flat.activation, x)
  np.testing.assert_array_equal(np.asarray(ours), int64_network([flat], x[None])[0])


def test_leaky_relu_is_an_exact_floor_for_any_int32():
  x = np.array([-(1 << 31), -(1 << 31) + 1, -123456789, -65537, -65536, -100, -1, 0, 7,
                (1 << 31) - 1], np.int32)
  acc = integer_network.Accumulator(np.zeros_like(x), x)  # the integer x, shift 0
  ours = np.asarray(integer_network.finish(acc, np.int32(0), Activation.LEAKY_RELU))
  expected = np.where(x >= 0, x, (x.astype(np.int64) * 655) >> 16)
  np.testing.assert_array_equal(ours, expected)


def test_quantization_error_is_small():
  rng = np.random.default_rng(2)
  kernel, bias = rng.normal(0, 0.05, (1, 1, 64, 32)), rng.normal(0, 1, 32)
  layer = integer_network.quantize_conv(kernel, bias, Activation.NONE)
  x = rng.normal(0, 3, (1, 200, 64))
  ours = integer_network.from_fixed(Network([layer])(integer_network.to_fixed(x)))
  exact = x @ kernel[0, 0] + bias
  np.testing.assert_allclose(ours, exact, atol=0.02)


def test_a_channel_that_cannot_fit_is_refused():
  with pytest.raises(ValueError, match="output channel 1 does not fit"):
    integer_network.quantize_conv(np.full((1, 1, 4, 2), [0.1, 1e5]), np.zeros(2),
                                  Activation.NONE)
