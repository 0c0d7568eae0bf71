"""OHM quantization with rate adaptation (Löhdefink et al.): the quantizer,
the masking and its sampling, the recipe, and the truncatable map streams."""

import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import DATA_ROOT, ROOT, load_config
from lic_jax import parts, recipes
from lic_jax.coding import container, fuzz
from lic_jax.coding.container import BitstreamError
from lic_jax.models import model_from_spec
from lic_jax.ohm.codec import MapCodec, axis_classes, table_indexes
from lic_jax.ohm.model import (CategoricalPrior, ChannelNorm, OneHotMaxQuantizer, kept_maps,
                                map_mask, one_hot_max, rd_weight, sample_quality)

KEY = jax.random.PRNGKey(0)
SMALL_NATURAL = {"name": "ohm_autoencoder", "architecture": "natural", "num_maps": 6,
                 "num_symbols": 8, "features": 8, "filters": (8, 8, 8, 8)}


def init(spec: dict, shape=(1, 32, 32, 3), seed: int = 0):
  model = model_from_spec(spec)
  keys = {"params": jax.random.PRNGKey(seed), "noise": jax.random.PRNGKey(seed)}
  return model, model.init(keys, jnp.zeros(shape), jnp.ones(shape[:1]), training=True)["params"]


def test_one_hot_max_is_the_argmax_forward_and_the_softmax_backward():
  z = jax.random.normal(KEY, (5, 7))
  out = one_hot_max(z, 3.0)
  np.testing.assert_array_equal(out, jax.nn.one_hot(jnp.argmax(z, -1), 7))
  cotangent = jax.random.normal(jax.random.PRNGKey(1), (5, 7))
  grad = jax.vjp(lambda v: one_hot_max(v, 3.0), z)[1](cotangent)[0]
  # The softmax Jacobian product: J^T g with J = t (diag(p) - p p^T).
  p = jax.nn.softmax(3.0 * z, -1)
  expected = 3.0 * p * (cotangent - jnp.sum(p * cotangent, -1, keepdims=True))
  np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("form, name", [("paper", "beta"), ("code", "temperature")])
def test_beta_and_the_code_temperature_receive_gradients(form, name):
  quantizer = OneHotMaxQuantizer(features=4, num_maps=3, num_symbols=5, form=form,
                                 temperature_init=1.0)
  r = jax.random.normal(KEY, (2, 4, 4, 4))
  round_trip = lambda m, x: m.dequantize(m.quantize(x))  # noqa: E731
  params = quantizer.init(KEY, r, method=round_trip)["params"]
  target = jax.random.normal(jax.random.PRNGKey(2), (2, 4, 4, 4))

  def loss(params):
    out = quantizer.apply({"params": params}, r, method=round_trip)
    return jnp.sum(jnp.square(out - target))

  grad = jax.grad(loss)(params)[name]
  assert np.all(np.isfinite(grad)) and np.any(np.abs(grad) > 1e-6)


def test_the_paper_form_is_minus_beta_relu_and_the_code_form_minus_abs():
  r = jax.random.normal(KEY, (1, 2, 2, 4))
  for form, expected in (("paper", lambda h: -2.5 * np.maximum(h, 0)), ("code", lambda h: -np.abs(h))):
    q = OneHotMaxQuantizer(4, 3, 5, form=form, temperature_init=2.5)
    params = q.init(KEY, r, method=q.quantize)["params"]
    z, _ = q.apply({"params": params}, r, method=q.scores)
    h = q.apply({"params": params}, r if form == "paper" else jax.nn.relu(r),
                method=lambda m, x: m.conv_in(x)).reshape(1, 2, 2, 3, 5)
    np.testing.assert_allclose(z, expected(np.asarray(h)), rtol=1e-6)
    symbols = q.apply({"params": params}, r, method=q.symbols)
    np.testing.assert_array_equal(symbols, np.argmax(z, -1))


@pytest.mark.parametrize("num_maps, min_maps, expected", [
    (16, 0, (0, 8, 16)), (16, 8, (8, 12, 16)), (7, 2, (2, 5, 7)), (32, 0, (0, 16, 32))])
def test_kept_maps_follow_eq_5(num_maps, min_maps, expected):
  kept = kept_maps(jnp.array([0.0, 0.5, 1.0]), num_maps, min_maps)
  np.testing.assert_array_equal(kept, expected)
  # ceil: the smallest q above a step already keeps one more map.
  assert int(kept_maps(0.01, num_maps, min_maps)) == min_maps + 1
  np.testing.assert_array_equal(map_mask(jnp.array([0, 2]), 3), [[0, 0, 0], [1, 1, 0]])


def test_the_quality_sampler_has_density_2q():
  q = np.asarray(sample_quality(KEY, (100_000,)))
  assert q.min() >= 0 and q.max() <= 1
  assert abs(q.mean() - 2 / 3) < 0.005
  counts, edges = np.histogram(q, bins=10, range=(0, 1))
  expected = 100_000 * (edges[1:] ** 2 - edges[:-1] ** 2)  # the CDF q^2
  assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected) + 20), (counts, expected)
  np.testing.assert_allclose(rd_weight(jnp.array([0.0, 0.5, 1.0]), 0.9, 0.99),
                             [0.9, 0.945, 0.99], rtol=1e-6)


@pytest.mark.parametrize("quantizer", ["ohm", "int"])
def test_masked_maps_carry_no_rate_and_do_not_reach_the_decoder(quantizer):
  spec = {**SMALL_NATURAL, "quantizer": quantizer}
  model, params = init(spec)
  x = jax.random.uniform(KEY, (2, 32, 32, 3))
  full = model.apply({"params": params}, x, jnp.ones(2))
  half = model.apply({"params": params}, x, jnp.array([0.5, 0.5]))
  assert list(half["kept"]) == [3, 3] and list(full["kept"]) == [6, 6]
  symbols = model.apply({"params": params}, x, method=model.symbols)
  bits = np.asarray(model.apply({"params": params}, symbols, method=model.symbol_bits))
  np.testing.assert_allclose(full["bits"], bits.sum((1, 2, 3)), rtol=1e-5)
  np.testing.assert_allclose(half["bits"], bits[..., :3].sum((1, 2, 3)), rtol=1e-5)
  # The decoder ignores whatever the masked maps hold.
  noise = jax.random.randint(KEY, symbols.shape, *model.symbol_range)
  scrambled = symbols.at[..., 3:].set(noise[..., 3:])
  synth = lambda s: model.apply({"params": params}, s, jnp.array([3, 3]), method=model.synthesize)  # noqa: E731
  np.testing.assert_array_equal(synth(symbols), synth(scrambled))
  np.testing.assert_allclose(synth(symbols), half["x_hat"], atol=1e-6)


def test_int_symbols_are_clamped_rounded_integers_and_train_with_noise():
  spec = {**SMALL_NATURAL, "quantizer": "int", "num_symbols": 4}
  model, params = init(spec)
  assert model.symbol_range == (-1, 2)
  x = jax.random.uniform(KEY, (1, 32, 32, 3))
  train = [model.apply({"params": params}, x, jnp.ones(1), training=True,
                       rngs={"noise": jax.random.PRNGKey(s)})["bits"] for s in (1, 2)]
  assert float(train[0][0]) != float(train[1][0])
  test = [model.apply({"params": params}, x, jnp.ones(1))["bits"] for _ in range(2)]
  assert float(test[0][0]) == float(test[1][0])
  wide = jax.tree_util.tree_map(lambda p: p * 40.0, params)
  symbols = np.asarray(model.apply({"params": wide}, x, method=model.symbols))
  assert symbols.min() == -1 and symbols.max() == 2


def test_the_prior_is_the_same_at_positions_of_one_class():
  prior = CategoricalPrior(num_maps=2, num_symbols=4)
  params = prior.init(KEY, 5, 4)["params"]
  p = np.asarray(prior.apply({"params": params}, 5, 4))
  np.testing.assert_allclose(np.exp2(p).sum(-1), 1.0, rtol=1e-5)
  np.testing.assert_array_equal(axis_classes(5), [1, 2, 2, 2, 3])
  np.testing.assert_allclose(p[1, 1], p[3, 2], rtol=1e-6)  # both inside
  assert not np.allclose(p[0, 0], p[2, 2])  # a corner is not inside
  small = np.asarray(prior.apply({"params": params}, 1, 3))
  big = np.asarray(prior.apply({"params": params}, 3, 1))
  assert not np.allclose(small[0, 1], p[2, 2])  # a grid of one row is its own class
  np.testing.assert_allclose(big[1, 0], prior.apply({"params": params}, 4, 1)[2, 0], rtol=1e-6)


def test_large_declared_map_files_are_refused_before_decoding():
  """A ~60-byte version-3 file declaring a large image, under a 3 GB
  address-space limit: refused with one line, never std::bad_alloc
  (SIGABRT) inside XLA (issue 32: 8192x2048 aborted, with no memory check)."""
  script = """
import resource
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
import dataclasses
import jax, jax.numpy as jnp, numpy as np
from lic_jax.coding import container
from lic_jax.models import model_from_spec
from lic_jax.ohm.codec import MapCodec
spec = %r
model = model_from_spec(spec)
keys = {"params": jax.random.PRNGKey(0), "noise": jax.random.PRNGKey(0)}
params = model.init(keys, jnp.zeros((1, 32, 32, 3)), jnp.ones((1,)), training=True)["params"]
codec = MapCodec.from_params(spec, params)
header, streams = container.unpack_maps(codec.compress(np.zeros((32, 32, 3), np.uint8), maps=6))
for height, width, sent in ((8192, 2048, 0), (16384, 1024, 2), (4096, 4096, 6), (4096, 2048, 6)):
  data = container.pack_maps(dataclasses.replace(header, height=height, width=width, sent=sent),
                             [b"\\x00"] * sent)
  try:
    codec.decompress(data)
    print("decoded", height, width, len(data))
  except container.BitstreamError as e:
    print(len(data), e)
""" % {**SMALL_NATURAL, "quantizer": "ohm", "ohm_form": "code"}
  result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  lines = result.stdout.splitlines()
  assert len(lines) == 4 and all(int(line.split()[0]) < 80 for line in lines), lines
  for line, size in zip(lines[:3], ("8192x2048", "16384x1024", "4096x4096")):
    assert line.endswith(f"declares a {size} image (16,777,216 pixels), over this decoder's "
                         "limit of 8,388,608 (max_pixels, --max-pixels)"), line
  # Within max_pixels, the memory check: 3 GB of address space is too little.
  assert re.search(r"decoding a 4096x2048 image takes about \d\.\d GiB, but the "
                   r"address-space limit \(ulimit -v\) leaves \d\.\d GiB", lines[3]), lines[3]


@pytest.mark.parametrize("edit", [b"\xe9", b"\x00", b" "])
def test_a_name_that_is_not_printable_ascii_is_a_bitstream_error(natural_codec, photo, edit):
  """One edited byte of the model name, the checksum recomputed: every reader
  refuses it by name (issue 32: truncate raised UnicodeEncodeError)."""
  data = natural_codec.compress(photo[:64, :64], maps=6)
  hostile = fuzz.with_checksum(data[:7] + edit + data[8:-4])
  for call in (lambda: container.truncate_maps(hostile, 2), lambda: natural_codec.decompress(hostile),
               lambda: natural_codec.truncate(hostile, maps=2)):
    with pytest.raises(BitstreamError, match="the model name .* is not a name"):
      call()


@pytest.mark.skipif(not os.path.isdir(os.path.join(DATA_ROOT, "mnist")),
                    reason="the offline MNIST digits are not in ../shared/data")
def test_the_recipe_loss_goes_down_on_a_fixed_seed():
  import optax  # pylint: disable=g-import-not-at-top

  config = load_config("ohm/mnist_ohm")
  config.model.ohm_form = "code"
  config.model.num_maps = 4
  recipe = recipes.get(config)
  model = recipe.build_model(config)
  params = recipe.init_variables(model, config, KEY)["params"]
  batch = next(recipe.dataset(config).iterate(0))[:16]
  assert batch.shape == (16, 28, 28, 1) and 0 <= batch.min() < batch.max() <= 1
  optimizer = optax.adam(1e-3)
  state = optimizer.init(params)

  @jax.jit
  def step(params, state):
    (loss, _), grads = jax.value_and_grad(
        lambda p: recipe.loss(model, p, {}, batch, KEY, config)[:2], has_aux=True)(params)
    updates, state = optimizer.update(grads, state)
    return optax.apply_updates(params, updates), state, loss

  losses = []
  for _ in range(40):
    params, state, loss = step(params, state)
    losses.append(float(loss))
  assert losses[-1] < 0.75 * losses[0], losses


@pytest.fixture(scope="module")
def natural_codec():
  spec = {**SMALL_NATURAL, "quantizer": "ohm", "ohm_form": "code"}
  _, params = init(spec)
  return MapCodec.from_params(spec, params)


@pytest.fixture(scope="module")
def photo():
  from lic_jax import image as image_lib  # pylint: disable=g-import-not-at-top

  return image_lib.read_rgb_uint8(os.path.join(
      ROOT, "lic_jax", "assets", "quickstart", "kodim23_crop256.png"))[:200, :232]


def test_table_rows_cover_every_position_class(natural_codec):
  indexes = table_indexes(natural_codec.model, 3, 4)
  classes = indexes[..., 0] // natural_codec.num_maps
  np.testing.assert_array_equal(classes, [[5, 6, 6, 7], [9, 10, 10, 11], [13, 14, 14, 15]])
  assert table_indexes(natural_codec.model, 1, 1)[0, 0, 0] == 0
  assert natural_codec.lookup.rows.shape == (16 * 6, 8 + 3)


def test_map_streams_round_trip_and_cost_the_estimated_rate(natural_codec, photo):
  """Bit-exact symbols, and the streams within 1% of the cross-entropy plus
  the coder's termination (at most 2 bytes a stream)."""
  data = natural_codec.compress(photo, maps=6)
  symbols, sent, header = natural_codec.decode_symbols(data)
  np.testing.assert_array_equal(symbols, natural_codec.symbols(photo))
  assert sent == 6 and (header.height, header.width, header.channels) == (200, 232, 3)
  _, streams = container.unpack_maps(data)
  payload = 8 * sum(len(s) for s in streams)
  estimate = natural_codec.estimated_bits(photo, 6)
  assert estimate * 0.99 - 16 * 6 <= payload <= estimate * 1.01 + 16 * 6, (payload, estimate)
  image = natural_codec.decompress(data)
  assert image.shape == (200, 232, 3) and image.dtype == np.float32


@pytest.mark.parametrize("quantizer", ["ohm", "int"])
def test_a_truncated_file_is_the_file_coded_with_fewer_maps(quantizer, photo):
  spec = {**SMALL_NATURAL, "quantizer": quantizer}
  _, params = init(spec, seed=3)
  codec = MapCodec.from_params(spec, params)
  full = codec.compress(photo, quality=1.0)
  for maps in range(7):
    cut = codec.truncate(full, maps=maps)
    direct = codec.compress(photo, maps=maps)
    assert cut == direct
    np.testing.assert_array_equal(codec.decompress(cut), codec.decompress(direct))
  assert codec.truncate(full, quality=0.5) == codec.compress(photo, quality=0.5)
  assert container.unpack_maps(codec.truncate(full, quality=0.5))[0].sent == 3
  # Fewer maps decode to another image, and cost fewer bytes.
  assert len(codec.compress(photo, maps=2)) < len(full)
  assert not np.array_equal(codec.decompress(codec.compress(photo, maps=2)),
                            codec.decompress(full))


def test_foreign_and_impossible_truncations_are_clear_errors(natural_codec, photo):
  data = natural_codec.compress(photo, maps=4)
  with pytest.raises(ValueError, match="holds 4 maps; it cannot be truncated to 5"):
    natural_codec.truncate(data, maps=5)
  with pytest.raises(ValueError, match="this model has 6 maps"):
    natural_codec.truncate(data, maps=7)
  with pytest.raises(ValueError, match="cannot truncate a file of 4 maps to 9"):
    container.truncate_maps(data, 9)
  other_spec = {**SMALL_NATURAL, "quantizer": "ohm", "num_maps": 5}
  other = MapCodec.from_params(other_spec, init(other_spec)[1])
  foreign = other.compress(photo, maps=5)
  for call in (lambda: natural_codec.decompress(container.truncate_maps(foreign, 2)),
               lambda: natural_codec.truncate(foreign, maps=2)):
    with pytest.raises(BitstreamError, match="made by another model"):
      call()
  retrained = MapCodec.from_params({**SMALL_NATURAL, "quantizer": "ohm", "ohm_form": "code"},
                                   init({**SMALL_NATURAL, "quantizer": "ohm"}, seed=5)[1])
  with pytest.raises(BitstreamError, match="other coding tables"):
    retrained.decompress(data)
  # A header claiming more maps than the model has.
  header, streams = container.unpack_maps(data)
  import dataclasses  # pylint: disable=g-import-not-at-top

  lying = container.pack_maps(dataclasses.replace(header, num_maps=9, sent=4), streams)
  with pytest.raises(BitstreamError, match="declares 9 maps"):
    natural_codec.decompress(lying)
  with pytest.raises(BitstreamError, match="7 maps sent of a model of 6"):
    body = container.pack_maps(dataclasses.replace(header, sent=7), streams + [b"", b"", b""])
    container.unpack_maps(body)
  # An image codec's file and a map file are told apart.
  with pytest.raises(BitstreamError, match="decode it with lic_jax.ohm"):
    container.unpack(data)


def test_hostile_map_files_are_refused_or_decode_to_an_image(natural_codec, photo):
  """200 mutated files, half with a recomputed checksum, and header attacks."""
  valid = natural_codec.compress(photo[:64, :64], maps=6)
  cases = 20 * len(fuzz.MAP_KINDS)
  outcomes = fuzz.fuzz_maps(natural_codec, valid, cases=cases)
  assert outcomes["refused"] + outcomes["decoded"] == cases
  assert outcomes["refused"] > 50 and outcomes["name/refused"] == 20


def test_mnist_codec_refuses_other_sizes_and_colour(tmp_path):
  spec = {"name": "ohm_autoencoder", "architecture": "mnist", "quantizer": "ohm",
          "num_maps": 4, "num_symbols": 16, "ohm_form": "code"}
  _, params = init(spec, (1, 28, 28, 1))
  codec = MapCodec.from_params(spec, params)
  digit = np.zeros((28, 28, 1), np.uint8)
  digit[8:20, 12:16] = 255
  assert codec.decompress(codec.compress(digit, maps=4)).shape == (28, 28, 1)
  with pytest.raises(ValueError, match="codes 28x28 images, got 32x28"):
    codec.compress(np.zeros((32, 28, 1), np.uint8), maps=1)
  with pytest.raises(ValueError, match=r"shape \(H, W, 1\)"):
    codec.compress(np.zeros((28, 28, 3), np.uint8), maps=1)


@pytest.mark.skipif(not os.path.isdir(os.path.join(DATA_ROOT, "mnist")),
                    reason="the offline MNIST digits are not in ../shared/data")
def test_command_line_compress_truncate_decompress(tmp_path):
  """A run of 2 steps, then the three commands and their one-line errors."""
  workdir = tmp_path / "run"
  train = [sys.executable, "-m", "lic_jax", "train", "--config", "configs/ohm/mnist_ohm.py:8,code",
           f"--config.workdir={workdir}", "--config.num_steps=2", "--config.quiet=True",
           "--config.checkpoint_every=2", "--config.eval.every=0", "--config.data.batch_size=4"]
  subprocess.run(train, cwd=ROOT, check=True, capture_output=True)
  from PIL import Image  # pylint: disable=g-import-not-at-top

  digit = np.zeros((28, 28), np.uint8)
  digit[6:22, 13:15] = 255
  Image.fromarray(digit).save(tmp_path / "digit.png")

  def cli(*args):
    return subprocess.run([sys.executable, "-m", "lic_jax", "ohm", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True)

  full, cut, recon = tmp_path / "d.lic", tmp_path / "d4.lic", tmp_path / "r.png"
  assert cli("compress", tmp_path / "digit.png", full, "--checkpoint", workdir).returncode == 0
  assert cli("truncate", full, cut, "--maps", 4).returncode == 0
  assert cli("decompress", cut, recon, "--checkpoint", workdir).returncode == 0
  assert np.asarray(Image.open(recon)).shape == (28, 28)
  codec = MapCodec.from_checkpoint(str(workdir))
  assert cut.read_bytes() == codec.compress(digit[..., None], maps=4)
  again = cli("truncate", full, cut, "--maps", 2)
  assert again.returncode == 1 and again.stderr.strip().endswith("pass --force to overwrite it")
  more = cli("truncate", cut, tmp_path / "x.lic", "--maps", 6)
  assert more.returncode == 1 and "cannot truncate a file of 4 maps to 6" in more.stderr
  assert "Traceback" not in again.stderr + more.stderr
  # Outputs are checked before any work (issue 32: an image decoded, then a
  # KeyError traceback for '.txt'): with a checkpoint that does not exist,
  # the output is what the one error line names.
  for command, output in (("decompress", "r.txt"), ("compress", "missing/d.lic"),
                          ("truncate", "missing/d.lic")):
    args = (tmp_path / "digit.png" if command == "compress" else cut, tmp_path / output)
    refused = cli(command, *args, "--checkpoint", tmp_path / "no-such-run", "--maps", 2)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert refused.stderr.count("\n") == 1 and "output" in refused.stderr, refused.stderr
  txt = cli("decompress", cut, tmp_path / "r.txt", "--checkpoint", workdir)
  assert txt.returncode == 1 and txt.stderr.startswith("error: output") and \
      "needs an image extension" in txt.stderr and "Traceback" not in txt.stderr, txt.stderr
  assert not (tmp_path / "r.txt").exists()


def test_channel_norm_normalizes_each_position_over_its_channels():
  """The authors' ChannelNorm2D: per position, over channels, the unbiased
  variance (torch.var's default), eps 1e-3, then scale 1 and offset 0."""
  x = jax.random.normal(jax.random.PRNGKey(3), (2, 3, 5, 7)) * 4.0 + 2.0
  norm = ChannelNorm()
  params = norm.init(KEY, x)
  got = np.asarray(norm.apply(params, x))
  x64 = np.asarray(x, np.float64)
  want = (x64 - x64.mean(-1, keepdims=True)) / np.sqrt(x64.var(-1, ddof=1, keepdims=True) + 1e-3)
  np.testing.assert_allclose(got, want, atol=1e-5)


def test_the_authors_natural_model_has_channel_norms_and_residual_blocks():
  spec = {**SMALL_NATURAL, "quantizer": "int"}
  plain = model_from_spec(spec)
  authors = model_from_spec({**spec, "channel_norm": True, "residual_blocks": 8})
  x = jnp.zeros((1, 32, 32, 3))
  shapes = [jax.eval_shape(lambda m=m: m.init({"params": KEY, "noise": KEY}, x, jnp.ones((1,)),
                                              training=True))["params"] for m in (plain, authors)]
  names = [{parts.path_name(p) for p, _ in jax.tree_util.tree_flatten_with_path(s)[0]}
           for s in shapes]
  added = names[1] - names[0]
  assert sum("ResidualBlock" in n for n in added) == 8 * 2 * 2 * 2  # 8 blocks x 2 (conv, norm) x 2
  assert sum(n.startswith("g_a/ChannelNorm") for n in added) == 5 * 2   # after each conv
  assert sum(n.startswith("g_s/ChannelNorm") for n in added) == 4 * 2   # after each upsampling
  out = authors.apply(authors.init({"params": KEY, "noise": KEY}, x, jnp.ones((1,)),
                                   training=True), x, jnp.ones((1,)))
  assert out["x_hat"].shape == x.shape
  with pytest.raises(ValueError, match="belong to the natural architecture"):
    jax.eval_shape(lambda: model_from_spec({"name": "ohm_autoencoder", "channel_norm": True}).init(
        {"params": KEY, "noise": KEY}, jnp.zeros((1, 28, 28, 1)), jnp.ones((1,))))
