"""Learned grouping (lic_jax.coding_rate, lic_jax.grouping.model, recipe
'grouping', lic_jax.grouping.codec, lic_jax.grouping): the log-det rates
against float64 numpy in both forms, their identities and gradients, the
Eq. 9/10 bound against real range-coded quantized Gaussians, gradients
reaching the profile head (and not in the authors' variant), and bit-exact
files with one profile per image."""

import dataclasses
import math
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import DATA_ROOT, ROOT, load_config
from lic_jax import coding_rate, labelled_data, recipes
from lic_jax.coding import container, fuzz, range_coder, tables
from lic_jax.coding.container import BitstreamError
from lic_jax.grouping import cli as grouping_lib
from lic_jax.grouping.codec import GroupCodec
from lic_jax.grouping.model import GroupedClassifier
from lic_jax.train import load_config as load_file, train

NETWORK = {"name": "cifar_resnet", "depth": 8, "width": 8, "num_classes": 10}


def _unit_rows(rng, m: int, d: int) -> np.ndarray:
  z = rng.normal(size=(m, d))
  return z / np.linalg.norm(z, axis=1, keepdims=True)


def _rate64(z: np.ndarray, eps: float, weights: np.ndarray | None = None) -> float:
  """Eq. 2/3's term for one group, in float64: (tr W / 2m) log2 det(I + d /
  (tr W eps^2) Z W Z^T), or r(Z | eps) without weights."""
  m, d = z.shape
  w = np.ones(m) if weights is None else weights
  size = w.sum()
  matrix = np.eye(d) + d / (size * eps**2) * (z * w[:, None]).T @ z
  return size / (2 * m) * np.linalg.slogdet(matrix)[1] / math.log(2)


@pytest.mark.parametrize("m, d", [(64, 16), (16, 64), (300, 200), (200, 300), (128, 1024),
                                  (9, 9)])
def test_coding_rate_equals_float64_slogdet_in_both_forms(m, d):
  rng = np.random.default_rng(m * 1000 + d)
  z = _unit_rows(rng, m, d)
  for eps in (0.05, 0.5, 2.0):
    expected = _rate64(z, eps)
    got = float(coding_rate.coding_rate(jnp.asarray(z, jnp.float32), eps))
    assert abs(got - expected) <= 1e-5 * max(1.0, abs(expected)), (eps, got, expected)
    # Eq. 9 adds d/2 log2(2 pi e / 12) bits.
    quantized = float(coding_rate.coding_rate(jnp.asarray(z, jnp.float32), eps, True))
    assert quantized - got == pytest.approx(d / 2 * math.log2(2 * math.pi * math.e / 12),
                                            rel=1e-5)


@pytest.mark.parametrize("m, d", [(40, 12), (12, 40)])
def test_grouped_rate_with_soft_memberships_equals_float64(m, d):
  rng = np.random.default_rng(7)
  z = _unit_rows(rng, m, d)
  pi = rng.dirichlet(np.full(4, 0.5), size=m)
  expected = sum(_rate64(z, 0.3, pi[:, j]) for j in range(4))
  got = float(coding_rate.grouped_coding_rate(jnp.asarray(z, jnp.float32), 0.3,
                                              jnp.asarray(pi, jnp.float32)))
  assert got == pytest.approx(expected, rel=1e-5)


def test_one_group_is_r_and_hard_memberships_sum_the_subsets_rates():
  rng = np.random.default_rng(1)
  for m, d in ((90, 20), (30, 50)):
    z = jnp.asarray(_unit_rows(rng, m, d), jnp.float32)
    for quantization in (False, True):
      whole = coding_rate.coding_rate(z, 0.4, quantization)
      one = coding_rate.grouped_coding_rate(z, 0.4, jnp.ones((m, 1)), quantization)
      assert float(one) == pytest.approx(float(whole), rel=1e-6)
    labels = rng.integers(0, 3, m)
    hard = coding_rate.grouped_coding_rate(z, 0.4, jax.nn.one_hot(labels, 3))
    # r^c = sum_j (m_j / m) r(Z_j | eps): each subset coded on its own.
    subsets = sum((labels == j).sum() / m * float(coding_rate.coding_rate(z[labels == j], 0.4))
                  for j in range(3))
    assert float(hard) == pytest.approx(subsets, rel=1e-5)
    assert float(coding_rate.grouped_coding_rate_of_labels(z, 0.4, jnp.asarray(labels), 3)) \
        == pytest.approx(subsets, rel=1e-5)
    # Delta r (Eq. 4) is r - r^c.
    assert float(coding_rate.rate_reduction(z, 0.4, jax.nn.one_hot(labels, 3))) == \
        pytest.approx(float(coding_rate.coding_rate(z, 0.4)) - subsets, rel=1e-5, abs=1e-4)


@pytest.mark.parametrize("m, d", [(30, 8), (8, 30)])
def test_gradients_match_float64_finite_differences_in_both_forms(m, d):
  rng = np.random.default_rng(3)
  z = _unit_rows(rng, m, d)
  pi = rng.dirichlet(np.ones(3), size=m)

  def rate64(z, pi, eps):
    return sum(_rate64(z, eps, pi[:, j]) for j in range(3))

  grads = jax.grad(lambda z, p, e: coding_rate.grouped_coding_rate(z, e, p), argnums=(0, 1, 2))(
      jnp.asarray(z, jnp.float32), jnp.asarray(pi, jnp.float32), jnp.float32(0.3))
  h = 1e-6
  for (i, j) in ((0, 0), (m - 1, d - 1), (m // 2, 1)):
    dz = np.zeros_like(z)
    dz[i, j] = h
    fd = (rate64(z + dz, pi, 0.3) - rate64(z - dz, pi, 0.3)) / (2 * h)
    assert float(grads[0][i, j]) == pytest.approx(fd, rel=1e-3, abs=1e-3)
  for i, j in ((0, 0), (m - 1, 2)):
    dp = np.zeros_like(pi)
    dp[i, j] = h
    fd = (rate64(z, pi + dp, 0.3) - rate64(z, pi - dp, 0.3)) / (2 * h)
    assert float(grads[1][i, j]) == pytest.approx(fd, rel=1e-3, abs=1e-3)
  fd = (rate64(z, pi, 0.3 + h) - rate64(z, pi, 0.3 - h)) / (2 * h)
  assert float(grads[2]) == pytest.approx(fd, rel=1e-3)


def test_gradients_are_finite_for_rank_deficient_latents_and_empty_groups():
  rng = np.random.default_rng(4)
  for m, d in ((40, 100), (100, 40)):
    low_rank = rng.normal(size=(m, 3)) @ rng.normal(size=(3, d))
    z = low_rank / np.linalg.norm(low_rank, axis=1, keepdims=True)
    z[: m // 4] = z[0]  # repeated samples
    z[-1] = 0.0  # a zero latent
    logits = rng.normal(size=(m, 4))
    logits[:, 3] = -200.0  # softmax memberships of group 3 underflow to 0: an empty group
    pi = jax.nn.softmax(jnp.asarray(logits, jnp.float32))
    assert float(jnp.sum(pi[:, 3])) == 0.0
    hard = jax.nn.one_hot(jnp.asarray(rng.integers(0, 2, m)), 4)  # groups 2, 3 empty
    for memberships in (pi, hard):
      for quantization in (False, True):
        value, grads = jax.value_and_grad(
            lambda z, p, e: coding_rate.grouped_coding_rate(z, e, p, quantization),
            argnums=(0, 1, 2))(jnp.asarray(z, jnp.float32), memberships, jnp.float32(0.2))
        assert np.isfinite(float(value))
        assert all(bool(jnp.all(jnp.isfinite(g))) for g in grads)


def test_rate_functions_refuse_malformed_batches():
  with pytest.raises(ValueError, match=r"expected a batch of vectors \(m, d\)"):
    coding_rate.coding_rate(jnp.zeros((2, 3, 4)), 0.5)
  with pytest.raises(ValueError, match=r"memberships must be \(m, k\) = \(5, k\)"):
    coding_rate.grouped_coding_rate(jnp.ones((5, 3)), 0.5, jnp.ones((4, 2)))


def _coded_bits(symbols: np.ndarray) -> int:
  """Range-coded bits of integer symbols (m, d), each dimension with the
  table of its own empirical pmf (as a factorized profile codes)."""
  lows = symbols.min(0)
  width = int((symbols.max(0) - lows).max()) + 1
  rows = [tables.pmf_to_cdf_row(np.bincount(symbols[:, i] - lows[i], minlength=width)
                                 / len(symbols), 0.0, width + 3)
          for i in range(symbols.shape[1])]
  lookup = range_coder.Lookup.of(np.stack(rows))
  indexes = np.broadcast_to(np.arange(symbols.shape[1], dtype=np.int32), symbols.shape)
  return 8 * len(range_coder.encode(symbols - lows, indexes, lookup))


@pytest.mark.parametrize("seed", range(6))
def test_eq10_bounds_the_range_coded_rate_of_quantized_gaussian_groups(seed):
  """k = 3 groups of Gaussian data, each with a random covariance
  (eigenvalues from 1e-3 to 4 step^2). Quantized with step S, i.e. at the
  distortion eps^2 = d S^2 / 12 of Eq. 5, each group coded with its own
  factorized tables in its own principal axes, the real stream costs no
  more than the bound of Eq. 10 (nor each group more than Eq. 9)."""
  rng = np.random.default_rng(seed)
  d, step, sizes = 6, 0.5, (6000, 3000, 1000)
  eps = math.sqrt(d * step**2 / 12)
  groups, coded = [], 0
  for size in sizes:
    variances = step**2 * np.exp(rng.uniform(math.log(1e-3), math.log(4.0), d))
    axes, _ = np.linalg.qr(rng.normal(size=(d, d)))
    x = rng.normal(size=(size, d)) * np.sqrt(variances) @ axes.T
    _, principal = np.linalg.eigh(x.T @ x / size)
    bits = _coded_bits(np.round(x @ principal / step).astype(np.int32))
    bound = float(coding_rate.coding_rate(jnp.asarray(x, jnp.float32), eps, True))
    assert bits / size <= bound, (size, bits / size, bound)
    groups.append(x)
    coded += bits
  z = np.concatenate(groups)
  labels = np.repeat(np.arange(len(sizes)), sizes)
  bound = float(coding_rate.grouped_coding_rate(jnp.asarray(z, jnp.float32), eps,
                                                jax.nn.one_hot(labels, len(sizes)), True))
  assert coded / len(z) <= bound
  assert coded / len(z) > 0.5 * bound  # a bound, not a number far above any rate


def _model(groups: int = 3, memberships: str = "soft", noise: str = "quantization"):
  return GroupedClassifier(NETWORK, "layer3[0]", 4, groups, 32, 0.5, memberships, noise)


def test_latent_is_unit_norm_and_quantized_with_step_2s_over_sqrt_d():
  model = _model()
  x = jax.random.uniform(jax.random.PRNGKey(0), (4, 32, 32, 3))
  variables = model.init(jax.random.PRNGKey(1), x)
  out = model.apply(variables, x, method=model.forward)
  d = 8 * 8 * 4
  assert out["z"].shape == (4, d) and out["logits"].shape == (4, 10)
  np.testing.assert_allclose(np.linalg.norm(out["z"], axis=1), 1.0, rtol=1e-5)
  step = float(model.apply(variables, method=model.quantizer_step))
  assert step == pytest.approx(2 * 0.5 / math.sqrt(d))
  assert float(out["eps"]) == pytest.approx(2 * 0.5 / math.sqrt(12))
  np.testing.assert_array_equal(out["symbols"], np.round(out["z"] / step))
  assert out["membership"].shape == out["profile_bits"].shape == (4, 3)
  np.testing.assert_allclose(np.sum(out["membership"], 1), 1.0, rtol=1e-6)
  assert np.array_equal(out["group"], np.argmax(out["membership"], 1))


def test_fig2_network_codes_its_own_last_block_without_adapters():
  """With Fig. 2's network the latent is the encoder's last block (h
  channels): no 1x1 convolutions around it, z = that block's output over its
  norm; a split point of another width is refused in one line."""
  network = {"name": "group_net", "latent_channels": 12, "num_classes": 10}
  model = GroupedClassifier(network, "layer3[0]", 12, 2, 32, adapters=False)
  x = jax.random.uniform(jax.random.PRNGKey(0), (3, 32, 32, 3))
  variables = model.init(jax.random.PRNGKey(1), x)
  assert sorted(variables["params"]) == ["log_step", "net", "profile_head", "profiles"]
  out = model.apply(variables, x, method=model.forward)
  latent = model.apply(variables, x, method=lambda m, x: m.net.head(x, "layer3[0]"))
  flat = np.asarray(latent).reshape(3, -1)
  np.testing.assert_allclose(out["z"], flat / np.linalg.norm(flat, axis=1, keepdims=True),
                             rtol=1e-5, atol=1e-7)
  assert out["z"].shape == (3, 768) and out["logits"].shape == (3, 10)
  wrong = GroupedClassifier(network, "layer2[1]", 12, 2, 32, adapters=False)
  with pytest.raises(ValueError, match=r"^without adapters .*'layer2\[1\]'.* 16 channels, "
                                       r"not latent_channels = 12"):
    wrong.init(jax.random.PRNGKey(1), x)


def _loss_grads(memberships: str, noise: str = "quantization"):
  config = load_config("grouping/cifar")
  config.model = {**config.model.to_dict(), "network": NETWORK, "latent_channels": 4,
                  "groups": 3, "memberships": memberships, "noise": noise}
  recipe = recipes.get(config)
  model = recipe.build_model(config)
  variables = recipe.init_variables(model, config, jax.random.PRNGKey(0))
  params = variables.pop("params")
  batch = {"image": jax.random.uniform(jax.random.PRNGKey(2), (16, 32, 32, 3)),
           "label": jnp.arange(16) % 10}
  grads, metrics = jax.grad(lambda p: recipe.loss(model, p, variables, batch,
                                                  jax.random.PRNGKey(3), config)[:2],
                            has_aux=True)(params)
  return grads, metrics


def test_profile_head_and_step_receive_gradient_from_soft_memberships_not_hard():
  soft, metrics = _loss_grads("soft")
  assert float(jnp.max(jnp.abs(soft["profile_head"]["kernel"]))) > 0
  assert float(jnp.abs(soft["log_step"])) > 0
  assert np.isfinite(float(metrics["rate"])) and float(metrics["rate"]) > 0
  # The authors' code: memberships of the detached argmax; the head never trains.
  hard, _ = _loss_grads("hard")
  assert float(jnp.max(jnp.abs(hard["profile_head"]["kernel"]))) == 0.0
  assert float(jnp.abs(hard["log_step"])) > 0
  # The profiles' fit reaches only the profiles: they get gradient in both.
  for grads in (soft, hard):
    assert float(jnp.max(jnp.abs(grads["profiles"]["matrix0"]))) > 0


def test_gaussian_channel_adds_noise_in_training_and_drops_the_uniform_term():
  model = _model(noise="gaussian")
  x = jax.random.uniform(jax.random.PRNGKey(0), (4, 32, 32, 3))
  variables = model.init(jax.random.PRNGKey(1), x)
  a = model.apply(variables, x, True, method=model.forward, rngs={"noise": jax.random.PRNGKey(5)},
                  mutable=["batch_stats"])[0]["logits"]
  b = model.apply(variables, x, True, method=model.forward, rngs={"noise": jax.random.PRNGKey(6)},
                  mutable=["batch_stats"])[0]["logits"]
  assert not np.allclose(a, b)
  _, metrics = _loss_grads("soft", "gaussian")
  _, uniform = _loss_grads("soft", "quantization")
  # Same latents and eps: Eq. 10 exceeds Eq. 3 by d/2 log2(2 pi e / 12) per image.
  d = 8 * 8 * 4
  assert float(uniform["rate"] - metrics["rate"]) * 32 * 32 == pytest.approx(
      d / 2 * coding_rate.UNIFORM_NOISE_BITS, rel=1e-3)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  """A tiny grouped classifier (ResNet-8, h = 4, k = 3): 20 steps from
  scratch on CIFAR-10, then 10 with the rate."""
  if not os.path.exists(os.path.join(DATA_ROOT, labelled_data.CIFAR10_FILE)):
    pytest.skip(f"CIFAR-10 subset not found under {DATA_ROOT} (set LIC_JAX_DATA)")
  root = tmp_path_factory.mktemp("grouping")
  pre = load_config("grouping/cifar_pretrain")
  pre.model = {**pre.model.to_dict(), "network": NETWORK, "latent_channels": 4}
  pre.data.batch_size, pre.num_steps, pre.warmup_steps = 32, 20, 2
  pre.eval.every, pre.eval.max_examples, pre.quiet = 0, 100, True
  train(pre, str(root / "pretrain"))
  config = load_file(os.path.join(ROOT, "configs", "grouping", "cifar.py") + ":3,2.0,soft")
  config.model = {**config.model.to_dict(), "network": NETWORK, "latent_channels": 4}
  config.init_from = str(root / "pretrain")
  config.data.batch_size, config.num_steps, config.checkpoint_every = 32, 10, 10
  config.eval.max_examples = 100
  config.workdir = str(root / "point")
  train(config, config.workdir)
  return config.workdir


@pytest.fixture(scope="module")
def codec(run):
  images, _ = labelled_data.load_cifar10("train")
  return GroupCodec.from_run(run, images[:300].astype(np.float32) / 255.0)


@pytest.fixture(scope="module")
def test_images():
  images, labels = labelled_data.load_cifar10("test")
  pick = np.arange(0, 5000, 125)  # 40 images of every class
  return images[pick].astype(np.float32) / 255.0, labels[pick]


def test_files_round_trip_bit_exactly_with_their_profile(codec, test_images):
  images, labels = test_images
  report = grouping_lib.evaluate_point(codec, [(images[:25], labels[:25]),
                                               (images[25:], labels[25:])])
  assert report["exact"] and report["num_images"] == 40
  assert report["symbols_per_image"] == 256 and report["profile_index_bits"] == 2
  assert sum(report["profile_counts"]) == 40
  # Actual bits are within 2% (+ the range coder's termination) of the
  # profiles' own estimate, and the bound is a positive number of bits.
  assert report["bpp"] == pytest.approx(report["estimated_bpp"] + 2 / 1024, rel=0.02,
                                        abs=0.02)
  assert report["bound_bpp"] > 0 and report["bound_soft_bpp"] > 0
  symbols, profiles = codec.client(images[:5])
  for image, expected, profile in zip(images[:5], symbols, profiles):
    data = codec.encode(image)
    decoded_profile, decoded = codec.decode(data)
    assert decoded_profile == profile
    np.testing.assert_array_equal(decoded, expected)
    np.testing.assert_array_equal(codec.classify(data)[1], codec.logits(expected[None])[0])
  # uint8 pixels code the same file as their float image.
  assert codec.encode(np.round(images[0] * 255).astype(np.uint8)) == codec.encode(images[0])


def test_each_profile_codes_with_its_own_tables(codec, test_images):
  images, _ = test_images
  symbols, _ = codec.client(images[:1])
  files = [codec.encode_symbols(symbols[0], j) for j in range(3)]
  assert len({f for f in files}) == 3
  for j, data in enumerate(files):
    assert codec.decode(data)[0] == j
    np.testing.assert_array_equal(codec.decode(data)[1], symbols[0])
  # j takes ceil(log2 3) = 2 bits: the value 3 is codable but refused.
  assert list(codec.lookup.rows[0, :6]) == [16, 0, 16384, 32768, 49152, 65536]
  values = np.concatenate([[3], symbols[0] - codec.offsets])
  indexes = np.concatenate([[0], 1 + np.arange(256, dtype=np.int32)])
  header = container.unpack_features(files[0])[0]
  forged = container.pack_features(header, range_coder.encode(values, indexes, codec.lookup))
  with pytest.raises(BitstreamError, match="profile 3 decoded: the model has 3"):
    codec.decode(forged)


def test_foreign_corrupt_and_wrong_size_inputs_are_refused(run, codec, test_images):
  images, _ = test_images
  data = codec.encode(images[0])
  header, stream = container.unpack_features(data)
  other = container.pack_features(dataclasses.replace(header, config_hash=b"\0" * 8), stream)
  with pytest.raises(BitstreamError, match="made by another model"):
    codec.classify(other)
  with pytest.raises(BitstreamError, match="coded with other coding tables"):
    codec.classify(container.pack_features(dataclasses.replace(header, tables_hash=b"\1" * 8),
                                           stream))
  with pytest.raises(BitstreamError, match="declared split point 'layer3\\[0\\]' and size 64x64"):
    codec.classify(container.pack_features(dataclasses.replace(header, height=64, width=64),
                                           stream))
  with pytest.raises(BitstreamError, match="truncated"):
    codec.classify(data[:len(data) // 2])
  with pytest.raises(ValueError, match="takes 32x32 images .*; this one is 32x31"):
    codec.encode(images[0][:, :31])
  with pytest.raises(ValueError, match="expected profile 0..2 and 256 symbols"):
    codec.encode_symbols(np.zeros(256, np.int32), 3)
  cases = 20 * len(fuzz.FEATURE_KINDS)
  outcomes = fuzz.fuzz_features(codec, data, cases=cases)
  assert outcomes["refused"] + outcomes["decoded"] == cases and outcomes["model/refused"] == 20
  assert outcomes["name/refused"] == 20


def test_command_line_encodes_and_classifies_an_image(run, tmp_path):
  from PIL import Image  # pylint: disable=g-import-not-at-top

  images, _ = labelled_data.load_cifar10("test")
  png = tmp_path / "image.png"
  Image.fromarray(images[0]).save(png)
  out = tmp_path / "image.lic"
  command = [sys.executable, "-m", "lic_jax", "grouping"]
  result = subprocess.run([*command, "encode", "--run", run, str(png), "-o", str(out)],
                          cwd=ROOT, capture_output=True, text=True)
  assert result.returncode == 0, result.stderr[-2000:]
  assert f"{len(out.read_bytes())} bytes" in result.stdout
  result = subprocess.run([*command, "classify", "--run", run, str(out)], cwd=ROOT,
                          capture_output=True, text=True)
  assert result.returncode == 0 and "class " in result.stdout and "(profile " in result.stdout
  again = subprocess.run([*command, "encode", "--run", run, str(png), "-o", str(out)], cwd=ROOT,
                         capture_output=True, text=True)
  assert again.returncode == 1 and again.stderr.strip().endswith("pass --force to overwrite it")
  missing = subprocess.run([*command, "classify", "--run", str(tmp_path / "nope"), str(out)],
                           cwd=ROOT, capture_output=True, text=True)
  assert missing.returncode == 1 and "does not exist" in missing.stderr
  assert "Traceback" not in again.stderr + missing.stderr


def test_sweep_points_and_comparison_at_equal_rate():
  sweep = load_config("grouping/cifar_sweep")
  args = grouping_lib.point_args(sweep)
  assert len(args) == len(sweep.variants) * len(sweep.lambdas)
  assert ("10,hard", f"10,{sweep.lambdas[0]},hard") in args
  rows = [{"variant": "1,soft", "bpp": b, "accuracy": a}
          for b, a in ((0.1, 0.5), (0.2, 0.6), (0.4, 0.7))]
  rows += [{"variant": "10,soft", "bpp": b, "accuracy": a}
           for b, a in ((0.1, 0.55), (0.4, 0.72))]
  rows += [{"variant": "10,soft", "bpp": 0.3, "accuracy": 0.4}]  # beaten: off the frontier
  comparison = grouping_lib.compare({"points": rows}, "1,soft")
  assert [c["bpp"] for c in comparison] == [0.1, 0.2, 0.3, 0.4]
  assert comparison[0]["gain"] == pytest.approx(0.05)
  # At 0.2 bpp the grouped curve is interpolated in log bpp: 0.55 + 0.17 / 2,
  # at 0.3 both are (the reference between 0.6 and 0.7).
  assert comparison[1]["accuracy"] == pytest.approx(0.635)
  assert comparison[2]["reference_accuracy"] == pytest.approx(
      0.6 + 0.1 * math.log(1.5) / math.log(2))
  assert grouping_lib.accuracy_at(rows[:3], 0.05) is None


def test_gaussian_points_fix_eps_and_quantization_points_train_it():
  gaussian = load_file(os.path.join(ROOT, "configs", "grouping", "cifar.py") +
                       ":10,2.0,soft,gaussian")
  assert tuple(gaussian.freeze) == ("log_step",) and "log_step" not in gaussian.init_parts
  assert 2 * gaussian.model.step / math.sqrt(12) == pytest.approx(0.5)  # eps = 0.5
  quantized = load_file(os.path.join(ROOT, "configs", "grouping", "cifar.py") + ":10,2.0,soft")
  assert not quantized.freeze and "log_step" in quantized.init_parts
  assert recipes.get(quantized).aux_parts(quantized) == ("profiles",)
