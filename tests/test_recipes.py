"""The one trainer with task recipes: classification trains, frozen parts stay
bit-identical, parts load from another run, resume after SIGKILL replays
exactly, and configuration mistakes are one-line errors naming them."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import DATA_ROOT, ROOT, killed_and_resumed, load_config, logged_steps
from lic_jax import checkpoint as checkpoint_lib
from lic_jax import labelled_data, parts, recipes
from lic_jax.train import _warm_start, train  # pylint: disable=protected-access
from lic_jax.train_state import init_state, make_optimizer

FROZEN = ("stem", "layer1[0]")


@pytest.fixture
def classifier_config(tmp_path):
  """A seconds-per-run CIFAR ResNet-8 of width 8."""
  if not os.path.exists(os.path.join(DATA_ROOT, labelled_data.CIFAR10_FILE)):
    pytest.skip(f"CIFAR-10 subset not found under {DATA_ROOT} (set LIC_JAX_DATA)")
  c = load_config("classify/cifar10_resnet")
  c.model.depth, c.model.width = 8, 8
  c.data.batch_size = 16
  c.num_steps = 8
  c.warmup_steps = 2
  c.log_every = 1
  c.checkpoint_every = 2
  c.eval.every = 0
  c.eval.max_examples = 500
  c.quiet = True
  c.workdir = str(tmp_path / "run")
  return c


def _leaves_by_path(tree):
  return {parts.path_name(p): np.asarray(v)
          for p, v in jax.tree_util.tree_flatten_with_path(tree)[0]}


def test_classification_trains_and_evaluates(classifier_config):
  classifier_config.num_steps = 40
  result = train(classifier_config, classifier_config.workdir)
  losses = np.array([result["losses"][s] for s in range(1, 41)])
  assert np.all(np.isfinite(losses))
  assert losses[-10:].mean() < 0.9 * losses[:10].mean(), losses
  summary = result["eval"]
  assert summary["num_examples"] == 500 and summary["split"] == "test"
  assert 0.15 < summary["accuracy"] <= 1.0  # above chance (0.1) after 40 steps
  records = [json.loads(l) for l in open(os.path.join(classifier_config.workdir,
                                                      "metrics.jsonl"))]
  assert {"loss", "accuracy", "grad_norm", "steps_per_s"} <= set(records[0])
  assert records[-1]["eval"]["accuracy"] == summary["accuracy"]


# Whole blocks (whose batch norm then runs on its running averages), or a
# part inside a block (whose batch statistics the trainer keeps).
@pytest.mark.parametrize("frozen_parts,count", [(FROZEN, 15), (("layer1[0]/bn1",), 4)])
def test_frozen_parameters_and_batch_statistics_are_bit_identical(classifier_config,
                                                                  frozen_parts, count):
  classifier_config.freeze = frozen_parts
  classifier_config.num_steps = 20
  recipe = recipes.get(classifier_config)
  model = recipe.build_model(classifier_config)
  assert tuple(model.frozen_blocks) == (FROZEN if count == 15 else ())
  optimizer = make_optimizer(classifier_config)
  initial = init_state(model, optimizer, classifier_config)
  # No optimizer state for the frozen parameters: SGD's momentum covers
  # exactly the trainable ones.
  trainable = [v for k, v in _leaves_by_path(initial.params).items()
               if not parts.in_any(k, frozen_parts)]
  momentum = [a for a in jax.tree_util.tree_leaves(initial.opt_state) if np.ndim(a) > 0]
  assert sorted(a.size for a in momentum) == sorted(a.size for a in trainable)

  train(classifier_config, classifier_config.workdir)
  _, variables, _, step = checkpoint_lib.load_variables(classifier_config.workdir)
  assert step == 20
  before = {**_leaves_by_path({"params": initial.params}),
            **_leaves_by_path(initial.model_state)}
  after = {**_leaves_by_path({"params": variables["params"]}),
           **_leaves_by_path({"batch_stats": variables["batch_stats"]})}
  assert set(before) == set(after)
  frozen = [k for k in before
            if parts.in_any(k.split("/", 1)[1], frozen_parts)]
  # stem: conv kernel, bn scale and bias, bn mean and var; layer1[0]: twice
  # that; a batch norm: scale, bias, mean, var.
  assert len(frozen) == count
  for name in frozen:
    np.testing.assert_array_equal(after[name], before[name], err_msg=name)
  changed = [k for k in before if k not in frozen and not np.array_equal(after[k], before[k])]
  assert len(changed) == len(before) - len(frozen)


def test_unknown_frozen_part_is_an_error_naming_it(classifier_config):
  classifier_config.freeze = ("layer1",)  # parts end at '/': 'layer1[0]' would match
  with pytest.raises(parts.PartError, match=r"\['layer1'\] match no parameter"):
    train(classifier_config, classifier_config.workdir)


def test_parts_load_from_another_run(classifier_config, tmp_path):
  source = str(tmp_path / "source")
  classifier_config.num_steps = 2
  classifier_config.seed = 7
  train(classifier_config, source)
  _, loaded, _, _ = checkpoint_lib.load_variables(source)
  classifier_config.seed = 0
  model = recipes.get(classifier_config).build_model(classifier_config)
  optimizer = make_optimizer(classifier_config)
  fresh = init_state(model, optimizer, classifier_config)
  warm = _warm_start(fresh, optimizer, source, FROZEN)
  src = {**_leaves_by_path({"params": loaded["params"]}),
         **_leaves_by_path({"batch_stats": loaded["batch_stats"]})}
  new = {**_leaves_by_path({"params": warm.params}), **_leaves_by_path(warm.model_state)}
  old = {**_leaves_by_path({"params": fresh.params}), **_leaves_by_path(fresh.model_state)}
  for name in new:
    in_parts = parts.in_any(name.split("/", 1)[1], FROZEN)
    np.testing.assert_array_equal(new[name], src[name] if in_parts else old[name],
                                  err_msg=name)
  assert int(warm.step) == 0


def test_backbone_of_another_shape_is_an_error_naming_the_parameter(classifier_config,
                                                                   tmp_path):
  source = str(tmp_path / "source")
  classifier_config.num_steps = 1
  train(classifier_config, source)
  classifier_config.model.width = 16
  classifier_config.init_from = source
  classifier_config.init_parts = ("stem",)
  with pytest.raises(checkpoint_lib.IncompatibleCheckpointError,
                     match=r"'stem/bn1/bias' has shape \(8,\).*needs \(16,\)"):
    train(classifier_config, str(tmp_path / "wider"))


def test_transplant_maps_parts_onto_other_paths():
  target = {"backbone": {"stem": {"w": np.zeros(2)}, "fc": {"w": np.zeros(3)}},
            "unit": {"w": np.zeros(1)}}
  source = {"stem": {"w": np.ones(2)}, "fc": {"w": np.full(3, 2.0)}}
  out = parts.transplant(target, source, parts.parse_mapping(["backbone="]), "test")
  np.testing.assert_array_equal(out["backbone"]["fc"]["w"], np.full(3, 2.0))
  np.testing.assert_array_equal(out["unit"]["w"], np.zeros(1))
  out = parts.transplant(target, source, parts.parse_mapping(["backbone/stem=stem"]), "test")
  np.testing.assert_array_equal(out["backbone"]["stem"]["w"], np.ones(2))
  np.testing.assert_array_equal(out["backbone"]["fc"]["w"], np.zeros(3))
  with pytest.raises(parts.PartError, match=r"source parts \['head'\]"):
    parts.transplant(target, source, parts.parse_mapping(["unit=head"]), "test")


def _classify_cli(workdir, num_steps, extra=()):
  return [sys.executable, "-m", "lic_jax", "train",
          "--config", os.path.join(ROOT, "configs", "classify", "cifar10_resnet.py"),
          "--workdir", workdir, "--config.model.depth=8", "--config.model.width=8",
          "--config.data.batch_size=16", "--config.warmup_steps=2",
          f"--config.num_steps={num_steps}", "--config.log_every=1",
          "--config.checkpoint_every=3", "--config.eval.max_examples=500",
          "--config.lr_schedule=piecewise", "--config.quiet=True", *extra]


def test_classification_resumes_after_sigkill_on_the_same_trajectory(classifier_config,
                                                                    tmp_path):
  killed = str(tmp_path / "killed")
  resumed = killed_and_resumed(lambda n: _classify_cli(killed, n), killed)
  last = max(resumed)
  # The uninterrupted run, in this process: same losses and accuracies at
  # every step (batch statistics are part of the checkpointed state). The
  # runs differ in num_steps, so the schedule must not depend on it.
  classifier_config.lr_schedule = "piecewise"
  classifier_config.num_steps = last
  classifier_config.checkpoint_every = 3
  train(classifier_config, str(tmp_path / "reference"))
  reference = logged_steps(str(tmp_path / "reference"))
  for step in range(1, last + 1):
    for key in ("loss", "accuracy"):
      np.testing.assert_allclose(resumed[step][key], reference[step][key], rtol=1e-5,
                                 err_msg=f"step {step} {key}")


@pytest.mark.parametrize("override,message", [
    ("--config.recipe=segmentation", "error: unknown recipe 'segmentation'; known recipes: "
     "cbanet, classification, compression"),
    ("--config.freeze=('layer9[0]',)", "error: config.freeze parts ['layer9[0]'] match no "
     "parameter of the model"),
    ("--config.init_parts=('stem',)", "error: config.init_parts needs config.init_from"),
])
def test_configuration_mistakes_are_one_line_errors(override, message, tmp_path):
  result = subprocess.run(_classify_cli(str(tmp_path / "run"), 2, (override,)), cwd=ROOT,
                          capture_output=True, text=True)
  assert result.returncode != 0
  assert message in result.stderr, result.stderr[-2000:]
  assert "Traceback" not in result.stderr


def test_unknown_recipe_in_python_names_the_known_ones():
  config = load_config("quickstart")
  config.recipe = "detection"
  with pytest.raises(recipes.RecipeError, match="unknown recipe 'detection'"):
    recipes.get(config)
  assert recipes.get(load_config("quickstart")).name == "compression"
  assert recipes.names() == ["cbanet", "classification", "compression", "grouping", "ohm", "split"]
