"""Split computing with bottleneck units (lic_jax.split.model, recipe
'split', lic_jax.split.codec, lic_jax.split): shapes at every split
point, straight-through rounding, a backbone bit-identical after the unit
trains, bit-exact feature files with the encoder side's logits, refusals of
other banks and split points, fuzzing, the search's sampling, frontier and
overhead accounting."""

import dataclasses
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import DATA_ROOT, ROOT, load_config
from lic_jax import checkpoint as checkpoint_lib
from lic_jax import labelled_data, parts
from lic_jax.coding import container, fuzz
from lic_jax.coding.container import BitstreamError
from lic_jax.models.resnet import cifar_resnet
from lic_jax.split import cli as split_lib
from lic_jax.split.codec import FeatureBank, uniform_row
from lic_jax.split.model import SplitClassifier, ste_round
from lic_jax.train import load_config as load_file, train

NETWORK = {"name": "cifar_resnet", "depth": 8, "width": 8, "num_classes": 10}
RESNET20 = {"name": "cifar_resnet", "depth": 20, "width": 16, "num_classes": 10}


def _leaves(tree) -> dict[str, np.ndarray]:
  return {parts.path_name(p): np.asarray(v)
          for p, v in jax.tree_util.tree_flatten_with_path(tree)[0]}


@pytest.mark.parametrize("stride", [2, 4, 6])
def test_head_unit_tail_shapes_at_every_split_point(stride):
  x = jax.random.uniform(jax.random.PRNGKey(0), (2, 32, 32, 3))
  backbone = cifar_resnet(depth=20)
  for split in backbone.split_names:
    model = SplitClassifier(RESNET20, split, 4, stride, 1.0)
    variables = model.init(jax.random.PRNGKey(1), x)
    features = model.apply(variables, x, method=model.head)
    h, w, c = features.shape[1:]
    assert c == backbone.features_at(split)
    symbols = model.apply(variables, x, method=model.symbols)
    assert symbols.shape == (2, -(-h // stride), -(-w // stride), 4), split
    decoded = model.apply(variables, features,
                          method=lambda m, f: m.unit(f)[0])
    assert decoded.shape == features.shape and bool(jnp.all(decoded >= 0))
    assert model.apply(variables, x).shape == (2, 10)


def test_straight_through_rounding_rounds_forward_and_is_the_identity_backward():
  x = jnp.array([-1.6, -0.4, 0.2, 0.5, 1.49, 2.51])
  np.testing.assert_array_equal(ste_round(x), jnp.round(x))
  weights = jnp.arange(1.0, 7.0)
  np.testing.assert_array_equal(jax.grad(lambda v: jnp.sum(weights * ste_round(v)))(x), weights)
  # Through the unit's quantizer s = round(y / Q): ds/dy = 1/Q exactly.
  model = SplitClassifier(RESNET20, "layer3[1]", 4, 2, 4.0)
  grad = jax.grad(lambda y: jnp.sum(model.apply({}, y, method=lambda m, v: m.unit.quantize(v))))
  np.testing.assert_array_equal(grad(x), jnp.full_like(x, 0.25))


def test_unknown_split_point_names_the_split_points():
  model = SplitClassifier(RESNET20, "layer4[0]", 4, 2, 1.0)
  with pytest.raises(ValueError, match=r"unknown split point 'layer4\[0\]'; .* layer3\[2\]"):
    model.init(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """A tiny backbone trained 4 steps, and two units on it: 'l1' at
  layer2[0], 'entropy' at layer3[0], 6 steps each."""
  if not os.path.exists(os.path.join(DATA_ROOT, labelled_data.CIFAR10_FILE)):
    pytest.skip(f"CIFAR-10 subset not found under {DATA_ROOT} (set LIC_JAX_DATA)")
  root = tmp_path_factory.mktemp("split")
  backbone = load_config("classify/cifar10_resnet")
  backbone.model = dict(NETWORK)
  backbone.data.batch_size, backbone.num_steps, backbone.warmup_steps = 16, 4, 1
  backbone.eval.every, backbone.eval.max_examples, backbone.quiet = 0, 100, True
  train(backbone, str(root / "backbone"))
  units = {}
  for arg in ("layer2[0],4,2,0,0.5,l1", "layer3[0],8,4,0,0.5,entropy"):
    c = load_file(os.path.join(ROOT, "configs", "split", "cifar.py") + ":" + arg)
    c.model.network = dict(NETWORK)
    c.init_from = str(root / "backbone")
    c.data.batch_size, c.num_steps, c.checkpoint_every = 16, 6, 6
    c.eval.max_examples = 100
    c.workdir = str(root / arg.split(",")[-1])
    train(c, c.workdir)
    units[arg.split(",")[-1]] = c.workdir
  return {"backbone": str(root / "backbone"), **units}


def test_backbone_is_bit_identical_after_the_unit_trains(runs):
  _, source, _, _ = checkpoint_lib.load_variables(runs["backbone"])
  for name in ("l1", "entropy"):
    _, trained, _, step = checkpoint_lib.load_variables(runs[name])
    assert step == 6
    expected = _leaves({"params": source["params"], "batch_stats": source["batch_stats"]})
    got = _leaves({"params": trained["params"]["backbone"],
                   "batch_stats": trained["batch_stats"]["backbone"]})
    assert set(got) == set(expected) and len(got) > 40
    for path, value in expected.items():
      np.testing.assert_array_equal(got[path], value, err_msg=path)
    # ... while every parameter of the unit's encoder and decoder moved.
    config = checkpoint_lib.load_config(runs[name])
    model = SplitClassifier(**{k: v for k, v in config.model.to_dict().items() if k != "name"})
    fresh = _leaves(model.init(jax.random.PRNGKey(config.seed),
                               jnp.zeros((1, 32, 32, 3)))["params"]["unit"])
    unit = _leaves(trained["params"]["unit"])
    moved = [p for p in fresh if "coder" in p and not np.array_equal(fresh[p], unit[p])]
    assert len(moved) == 8, moved


@pytest.fixture(scope="module")
def bank(runs):
  return FeatureBank.from_runs([runs["l1"], runs["entropy"]])


@pytest.fixture(scope="module")
def test_images():
  images, labels = labelled_data.load_cifar10("test")
  return images[:40].astype(np.float32) / 255.0, labels[:40]


def test_feature_files_round_trip_bit_exactly_with_the_encoder_sides_logits(bank, test_images):
  images, labels = test_images
  for k in range(len(bank)):
    report = split_lib.evaluate_unit(bank, k, [(images[:25], labels[:25]),
                                              (images[25:], labels[25:])])
    assert report["exact"] and report["num_images"] == 40
    # Magic, version, name, hashes, split point, size, checksum.
    assert report["header_bytes"] == 35 + len("cifar_resnet") + len(bank.units[k].split)
    files = [bank.encode(image, k) for image in images[:5]]
    symbols = bank.symbols(images[:5], k)
    for data, expected in zip(files, symbols):
      unit, decoded, header = bank.decode(data)
      assert unit == k and header.split == bank.units[k].split
      np.testing.assert_array_equal(decoded, expected)
      np.testing.assert_array_equal(bank.classify(data)[1],
                                    bank.logits(expected[None], k, 32, 32)[0])
  # The same image through uint8 pixels codes the same file.
  uint8 = np.round(images[0] * 255).astype(np.uint8)
  assert bank.encode(uint8, 0) == bank.encode(images[0], 0)


def test_unit_index_is_coded_uniformly_without_escape():
  row = uniform_row(5, 10)
  assert list(row[:7]) == [16, 0, 13107, 26214, 39321, 52428, 65536]
  with pytest.raises(ValueError, match="1 to 4096 units"):
    uniform_row(0, 4)


def test_files_of_another_bank_or_split_point_are_refused(runs, bank, test_images):
  images, _ = test_images
  data = bank.encode(images[0], 0)
  only_entropy = FeatureBank.from_runs([runs["entropy"]])
  with pytest.raises(BitstreamError, match="another bank of units"):
    only_entropy.classify(data)
  with pytest.raises(BitstreamError, match=r"a file of split point 'layer2\[0\]'; this "
                                           r"receiver runs the tail from 'layer3\[0\]'"):
    bank.classify(data, split="layer3[0]")
  header, stream = container.unpack_features(data)
  lying = container.pack_features(dataclasses.replace(header, split="layer3[0]"), stream)
  with pytest.raises(BitstreamError, match=r"unit 0 \(l1\) sits at 'layer2\[0\]'"):
    bank.classify(lying)
  with pytest.raises(BitstreamError, match="classify it with lic_jax.split"):
    container.unpack(data)
  with pytest.raises(BitstreamError, match="classify it with lic_jax.split"):
    container.unpack_maps(data)
  with pytest.raises(ValueError, match=r"units 0..1"):
    bank.encode(images[0], 2)
  with pytest.raises(ValueError, match="take 32x32 images .*; this one is 32x31: crop or resize"):
    bank.encode(images[0][:, :31], 0)
  resized = container.pack_features(dataclasses.replace(header, height=64, width=64), stream)
  with pytest.raises(BitstreamError, match="declared size 64x64: the bank's units take 32x32"):
    bank.classify(resized)


def test_hostile_feature_files_are_refused_or_classified(bank, test_images):
  images, _ = test_images
  valid = bank.encode(images[3], 1)
  cases = 20 * len(fuzz.FEATURE_KINDS)
  outcomes = fuzz.fuzz_features(bank, valid, cases=cases)
  assert outcomes["refused"] + outcomes["decoded"] == cases
  assert outcomes["refused"] > 40 and outcomes["model/refused"] == 20
  assert outcomes["name/refused"] == 20


def test_search_samples_from_the_priors_reproducibly():
  search = load_config("split/cifar_search")
  units = split_lib.sample_units(search, "layer2[2]", 200)
  assert units == split_lib.sample_units(search, "layer2[2]", 200)
  assert units != split_lib.sample_units(search, "layer3[2]", 200)
  # layer2[2] has C = 32: Cr = 32 is allowed, nothing above it.
  assert {u["channels"] for u in units} == {4, 8, 16, 32}
  assert {u["stride"] for u in units} == {2, 4, 6}
  assert all(-2 <= u["log_alpha"] <= 1 and 0.25 <= u["step"] <= 4 for u in units)
  assert len(split_lib.points(search)) == 3 * 12 * 2


def test_pareto_frontier_keeps_the_undominated_points_by_rate():
  rows = [{"bpp": b, "accuracy": a} for b, a in
          [(0.5, 0.80), (0.1, 0.60), (0.2, 0.55), (0.3, 0.75), (0.3, 0.70), (0.9, 0.79)]]
  assert [(r["bpp"], r["accuracy"]) for r in split_lib.pareto_frontier(rows)] == [
      (0.1, 0.60), (0.3, 0.75), (0.5, 0.80)]


def test_overhead_counts_the_units_parameters_and_multiply_adds():
  unit = {"split": "layer3[1]", "channels": 8, "stride": 2, "step": 1.0}
  cost = split_lib.overhead(RESNET20, unit, 32)
  c, cr = 64, 8
  # Depthwise 3x3 + bias, pointwise + bias; the mirror with a 3x3 upsampler.
  assert cost["encoder_parameters"] == (9 * c + c) + (c * cr + cr)
  assert cost["decoder_parameters"] == (cr * c + c) + (9 * c + c)
  assert cost["backbone_parameters"] == 272_474  # ResNet-20 with its fc layer
  # On the 8x8 split features, 4x4 symbols: the encoder's 9 C and C Cr per
  # symbol position, the decoder's Cr C and 9 C per symbol position.
  assert cost["encoder_macs"] == cost["decoder_macs"] == 16 * (9 * c + c * cr)
  assert 40e6 < cost["backbone_macs"] < 42e6  # ResNet-20's 40.6M (He et al.)
  search = load_config("split/cifar_search")
  assert split_lib.largest_units(search) == [
      {"split": split, "channels": 32, "stride": stride}
      for split in ("layer3[2]", "layer2[2]", "layer3[0]") for stride in (2, 4, 6)]


def test_command_line_encode_classify_and_errors(runs, tmp_path, test_images):
  from lic_jax import image as image_lib  # pylint: disable=g-import-not-at-top

  images, _ = test_images
  png = str(tmp_path / "x.png")
  image_lib.write_image(png, images[0])
  out = str(tmp_path / "x.lic")
  units = f"--units={runs['l1']},{runs['entropy']}"
  run = lambda *a: subprocess.run([sys.executable, "-m", "lic_jax", "split", *a],  # noqa: E731
                                  cwd=ROOT, capture_output=True, text=True)
  encoded = run("encode", units, "--unit=1", png, "-o", out)
  assert encoded.returncode == 0, encoded.stderr[-2000:]
  assert "unit 1 (entropy) at layer3[0]" in encoded.stdout
  again = run("encode", units, "--unit=1", png, "-o", out)
  assert again.returncode == 1 and again.stderr.strip().endswith("pass --force to overwrite it")
  classified = run("classify", units, "--split=layer2[0]", out)
  assert classified.returncode == 1
  assert classified.stderr.strip().splitlines()[-1] == (
      "error: a file of split point 'layer3[0]'; this receiver runs the tail from 'layer2[0]'")
  classified = run("classify", units, out)
  assert classified.returncode == 0 and "(unit 1, entropy)" in classified.stdout
  # The output is checked before the bank loads: a missing folder or an
  # existing file is the one error, even with units that do not exist.
  for output, message in ((str(tmp_path / "missing" / "x.lic"), "does not exist"),
                          (out, "pass --force to overwrite it")):
    refused = run("encode", f"--units={tmp_path / 'no-such-unit'}", png, "-o", output)
    assert refused.returncode == 1 and refused.stderr.strip().endswith(message), refused.stderr


def test_comparison_answers_the_papers_question_from_the_curves():
  doc = {"frontiers": {"all/l1": [{"bpp": 0.02, "accuracy": 0.5}, {"bpp": 0.05, "accuracy": 0.7},
                                  {"bpp": 0.2, "accuracy": 0.8}]}}
  baselines = {"curves": [{"name": "JPEG (whole file)", "quality": [5, 1, 50],
                           "accuracy": [0.6, 0.4, 0.79], "bpp": [2.5, 2.4, 4.0]}]}
  result = split_lib.compare(doc, baselines, (0.7, 0.8, 0.9))
  assert result["rate_at_accuracy"]["0.7"] == {"all/l1": 0.05, "JPEG (whole file)": 4.0}
  assert result["rate_at_accuracy"]["0.8"] == {"all/l1": 0.2, "JPEG (whole file)": None}
  assert result["rate_at_accuracy"]["0.9"] == {"all/l1": None, "JPEG (whole file)": None}
  # JPEG's lowest quality (1) reaches 0.4 at 2.4 bpp; the units 0.5 at 0.02.
  assert result["jpeg_lowest_quality"] == {
      "quality": 1, "accuracy": 0.4, "bpp": {"JPEG (whole file)": 2.4},
      "units_bpp": {"all/l1": 0.02}}


def test_report_adds_the_comparison_and_plots(tmp_path):
  import json  # pylint: disable=g-import-not-at-top

  import ml_collections  # pylint: disable=g-import-not-at-top

  points = [{"split": "layer3[2]", "rate_model": m, "bpp": b, "accuracy": a}
            for m, b, a in [("l1", 0.02, 0.6), ("l1", 0.1, 0.8), ("entropy", 0.05, 0.7)]]
  doc = {"points": points, "num_test_images": 5000, "frontiers": {
      "layer3[2]/l1": points[:2], "layer3[2]/entropy": points[2:],
      "all/l1": points[:2], "all/entropy": points[2:]}}
  (tmp_path / "search.json").write_text(json.dumps(doc))
  baselines = {"backbone_accuracy": 0.82, "curves": [
      {"name": "JPEG (whole file)", "quality": [1, 50], "accuracy": [0.25, 0.75],
       "bpp": [2.4, 4.2]}]}
  (tmp_path / "baselines.json").write_text(json.dumps(baselines))
  config = ml_collections.ConfigDict({
      "output": str(tmp_path / "search.json"), "baselines": str(tmp_path / "baselines.json"),
      "plot": str(tmp_path / "search.png"), "accuracy_levels": (0.7,)})
  result = split_lib.report(config)
  assert result["comparison"]["rate_at_accuracy"]["0.7"]["all/entropy"] == 0.05
  assert result["comparison"]["jpeg_lowest_quality"]["units_bpp"]["all/l1"] == 0.02
  assert json.loads((tmp_path / "search.json").read_text())["comparison"] == result["comparison"]
  assert (tmp_path / "search.png").stat().st_size > 10_000
