"""CBANet-HP (lic_jax.models.cbanet): the paper's parameter counts, the
CAM's gated sums, the BAM's identity at the base rate, and clear errors."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import ROOT
from lic_jax import checkpoint as checkpoint_lib
from lic_jax import complexity
from lic_jax import parts
from lic_jax import recipes
from lic_jax.models import build_model, model_from_config
from lic_jax.models.cbanet import (BitrateAdaptiveLayer, ComplexityAdaptiveModule,
                                   InverseBitrateAdaptiveLayer)
from lic_jax.recipes import cbanet as cbanet_recipe
from lic_jax.train import load_config, train


def _shapes(model, size=64):
  """The parameter tree's shapes, without computing anything."""
  x = jnp.zeros((1, size, size, 3))
  keys = {"params": jax.random.PRNGKey(0), "noise": jax.random.PRNGKey(1)}
  return jax.eval_shape(lambda: model.init(keys, x, training=True))["params"]


@pytest.mark.parametrize("width, paper", [(60, 1.53e6), (88, 1.89e6), (128, 2.54e6)])
def test_baseline_decoders_have_the_papers_parameter_counts(width, paper):
  """Table III: the bmshj2018 decoders (g_s + h_s + factorized prior) of the
  60-, 88- and 128-channel baselines (g_s narrowed, hyper networks at N=128)."""
  model = build_model("bmshj2018", num_filters=128, num_latents=192, synthesis_filters=width)
  count = complexity.decoder_parameters(model, _shapes(model))
  assert count == pytest.approx(paper, rel=0.01), count


def test_cbanet_decoder_and_one_bam_have_the_papers_parameter_counts():
  model = build_model("cbanet_hp", num_filters=128, num_latents=192, num_rates=4,
                      bam_width=192)
  assert model.branch_channels == (60, 60, 88)
  params = _shapes(model)
  base = complexity.decoder_parameters(model, params)
  assert base == pytest.approx(2.85e6, rel=0.01), base
  bam = complexity.decoder_parameters(model, params, rate=0) - base
  assert bam == pytest.approx(0.168e6, rel=0.01), bam
  # Every BAM is the same size; K=1 needs the first branch and no gates.
  assert complexity.decoder_parameters(model, params, rate=2) - base == bam
  one = complexity.decoder_parameters(model, params, num_branches=1)
  assert base - one == (complexity.parameter_count(params, ("cam/branches_1", "cam/branches_2"))
                        + 2)  # the K=3 gates g31, g32


def _gated(outputs, gates):
  return sum(g * x for g, x in zip(gates, outputs[:-1])) + outputs[-1]


def test_the_cam_output_is_the_gated_sum_of_its_branches():
  cam = ComplexityAdaptiveModule((8, 8, 12))
  y_hat = jax.random.normal(jax.random.PRNGKey(0), (1, 2, 3, 16))
  params = cam.init(jax.random.PRNGKey(1), y_hat, 3)["params"]
  np.testing.assert_array_equal(params["gates_2"], [1.0])
  np.testing.assert_array_equal(params["gates_3"], [1.0, 1.0])
  params = {**params, "gates_2": jnp.array([0.3]), "gates_3": jnp.array([0.5, -0.7])}
  outputs = cam.apply({"params": params}, y_hat, 3, method=cam.branch_outputs)
  assert [o.shape for o in outputs] == [(1, 32, 48, 3)] * 3
  expected = {1: outputs[0], 2: _gated(outputs[:2], [0.3]),
              3: _gated(outputs, [0.5, -0.7])}
  for k, want in expected.items():
    got = cam.apply({"params": params}, y_hat, k)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.fixture(scope="module")
def tiny():
  model = build_model("cbanet_hp", num_filters=16, num_latents=16, num_rates=3, bam_width=8)
  x = jax.random.uniform(jax.random.PRNGKey(0), (1, 64, 64, 3))
  keys = {"params": jax.random.PRNGKey(1), "noise": jax.random.PRNGKey(2)}
  return model, x, model.init(keys, x, training=True)


def test_the_base_rate_uses_no_bam(tiny):
  model, x, variables = tiny
  assert sorted(k for k in variables["params"] if k.startswith("bams_")) == ["bams_0", "bams_1"]
  bumped = {**variables["params"]}
  for name in ("bams_0", "bams_1"):
    bumped[name] = jax.tree_util.tree_map(lambda p: p + 0.5, bumped[name])
  for k in (1, 2, 3):
    base = model.apply(variables, x, num_branches=k)
    same = model.apply({**variables, "params": bumped}, x, num_branches=k)
    np.testing.assert_array_equal(base["x_hat"], same["x_hat"])
    np.testing.assert_array_equal(base["bits"], same["bits"])
  # A lower bitrate goes through its BAM: other bits, other pixels.
  low = model.apply(variables, x, rate=0)
  bumped_low = model.apply({**variables, "params": bumped}, x, rate=0)
  assert not np.array_equal(low["bits"], bumped_low["bits"])


def test_a_bam_layer_shrinks_and_its_inverse_grows(tiny):
  model, x, variables = tiny
  y = jax.random.normal(jax.random.PRNGKey(3), (1, 4, 4, 16))
  bam = variables["params"]["bams_0"]
  shrunk = BitrateAdaptiveLayer(8).apply({"params": bam["bal_y"]}, y)
  grown = InverseBitrateAdaptiveLayer(8).apply({"params": bam["ibal_y_hat"]}, y)
  assert np.all(np.abs(shrunk) <= np.abs(y)) and np.all(np.abs(grown) >= np.abs(y))


@pytest.mark.parametrize("level, message", [
    ({"rate": 3}, r"bitrate index 3 does not exist: this model has bitrates 0..2 \(2 is the base\)"),
    ({"num_branches": 4}, r"complexity level K=4 does not exist: this model has K=1..3"),
    ({"num_branches": 0}, r"complexity level K=0 does not exist")])
def test_a_level_the_model_lacks_is_a_clear_error(tiny, level, message):
  model, x, variables = tiny
  with pytest.raises(ValueError, match=message):
    model.apply(variables, x, **level)
  with pytest.raises(ValueError, match=message):
    model.decoder_parts(**level)



def _stage_config(stage: str, root: str, steps: int = 2):
  """configs/cbanet/hp_cpu.py's stage, tiny, its runs under `root`."""
  c = load_config(os.path.join(ROOT, "configs", "cbanet", f"hp_cpu.py:{stage}"))
  c.model.num_filters, c.model.num_latents, c.model.bam_width = 16, 16, 8
  c.data.crop_size, c.data.batch_size = 64, 2
  c.num_steps, c.lr_drop_steps, c.log_every, c.checkpoint_every = steps, (), 1, steps
  c.eval.directory, c.quiet = "", True
  c.workdir = os.path.join(root, stage)
  if c.init_from:
    c.init_from = os.path.join(root, os.path.basename(c.init_from))
  return c


def _flat(params) -> dict:
  return {parts.path_name(p): np.asarray(v)
          for p, v in jax.tree_util.tree_flatten_with_path(params)[0]}


def test_each_stage_trains_its_parts_and_keeps_the_rest_bit_identical(tmp_path):
  """base -> branch2 -> branch3 -> bam0, each started from the previous run."""
  root = str(tmp_path)
  before = None
  for stage in ("base", "branch2", "branch3", "bam0"):
    config = _stage_config(stage, root)
    model = model_from_config(config)
    if stage == "base":  # what the trainer starts from
      before = _flat(recipes.get(config).init_variables(
          model, config, jax.random.PRNGKey(config.seed))["params"])
    losses = train(config, config.workdir)["losses"]
    assert sorted(losses) == [1, 2] and all(np.isfinite(list(losses.values())))
    _, params, _, _ = checkpoint_lib.load_trained(config.workdir)
    after = _flat(params)
    trained = cbanet_recipe.trainable_parts(model)
    for name, value in after.items():
      if parts.in_any(name, trained):
        continue
      np.testing.assert_array_equal(value, before[name], err_msg=f"{stage}: {name}")
    changed = [name for name in after if parts.in_any(name, trained)
               and not np.array_equal(after[name], before[name])]
    assert changed, stage
    assert all(parts.in_any(name, trained) for name in changed)
    before = after


@pytest.mark.parametrize("override, message", [
    ({"num_branches": 4}, "config.model: complexity level K=4 does not exist"),
    ({"rate": 0, "num_branches": 2}, "a BAM trains at the highest complexity level"),
    ({"name": "bmshj2018"}, "recipe 'cbanet' trains a CBANet model")])
def test_a_stage_the_recipe_cannot_train_is_refused(override, message, tmp_path):
  config = _stage_config("base", str(tmp_path))
  if override.get("name") == "bmshj2018":
    config.model = {"name": "bmshj2018", "num_filters": 16, "num_latents": 16}
  else:
    for key, value in override.items():
      config.model[key] = value
  with pytest.raises(recipes.RecipeError, match=message):
    train(config, config.workdir)
  assert not os.path.exists(config.workdir)


def _zeros(model):
  return jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), _shapes(model))


def test_decoder_macs_are_the_layers_nominal_counts_and_agree_with_xla():
  model = build_model("bmshj2018", num_filters=128, num_latents=192)
  params = _zeros(model)
  counts = complexity.decoder_macs(model, params, 256, 256)
  per_pixel = {name: macs / 256**2 for name, macs in counts.items()}
  # A k x k transposed convolution: k^2 C_in C_out per input pixel (our
  # sub-pixel form runs exactly its taps); GDN: C^2 per pixel.
  assert per_pixel["synthesis/ConvTranspose_0"] == 25 * 192 * 128 / 16**2
  assert per_pixel["synthesis/ConvTranspose_2"] == 25 * 128 * 128 / 4**2
  assert per_pixel["synthesis/ConvTranspose_3"] == 25 * 128 * 3 / 2**2
  assert per_pixel["synthesis/GDN_0"] == 128 * 128 / 8**2
  assert per_pixel["hyper_synthesis/Conv_0/conv"] == 9 * 128 * 192 / 16**2
  total = sum(counts.values())
  flops = complexity.decoder_flops(model, params, 256, 256)
  assert flops / (2 * total) == pytest.approx(1.0, abs=0.05)


def test_cbanet_macs_rise_with_k_and_split_the_cam_about_24_24_52():
  model = build_model("cbanet_hp", num_filters=128, num_latents=192)
  params = _zeros(model)
  counts = complexity.decoder_macs(model, params, 256, 256, num_branches=3)
  branch = [sum(v for k, v in counts.items() if k.startswith(f"cam/branches_{i}/"))
            for i in range(3)]
  shares = np.array(branch) / sum(branch)
  np.testing.assert_allclose(shares, [0.24, 0.24, 0.52], atol=0.02)
  totals = [sum(complexity.decoder_macs(model, params, 256, 256, num_branches=k).values())
            for k in (1, 2, 3)]
  assert totals[0] < totals[1] < totals[2]
  # A BAM adds its two decoder-side layers only.
  low = sum(complexity.decoder_macs(model, params, 256, 256, rate=0).values())
  assert totals[2] < low < totals[2] * 1.05


def test_the_complexity_cli_reports_every_level(tmp_path):
  out = tmp_path / "c.json"
  result = subprocess.run(
      [sys.executable, "-m", "lic_jax.complexity", "--config", "configs/cbanet/hp_cpu.py:base",
       "--config.model.num_filters=16", "--config.model.num_latents=16",
       "--config.model.bam_width=8", "--config.model.num_rates=2", "--config.model.rate=1",
       "--height=64", "--width=64",
       "--repeats=1", f"--json={out}"], cwd=ROOT, capture_output=True, text=True)
  assert result.returncode == 0, result.stderr[-2000:]
  rows = json.loads(out.read_text())["levels"]
  assert [(r["rate"], r["num_branches"]) for r in rows] == [
      (j, k) for j in (0, 1) for k in (1, 2, 3)]
  assert all(r["latency_s"] > 0 and r["macs_per_pixel"] > 0 for r in rows)
  assert rows[0]["decoder_parameters"] > rows[3]["decoder_parameters"]  # a BAM's layers
  assert len(result.stdout.strip().splitlines()) == 2 + len(rows)
