"""Runs in a subprocess with 8 host devices (see test_sharding.py); prints JSON.

  XLA_FLAGS=--xla_force_host_platform_device_count=8 python sharding_worker.py CHECK DIR
"""

import json
import os
import sys

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import load_config  # pylint: disable=wrong-import-position
from lic_jax import checkpoint as checkpoint_lib  # pylint: disable=wrong-import-position
from lic_jax import parallel  # pylint: disable=wrong-import-position
from lic_jax.models import model_from_config  # pylint: disable=wrong-import-position
from lic_jax.train import make_train_step, sharded_state  # pylint: disable=wrong-import-position
from lic_jax.train_state import make_optimizer  # pylint: disable=wrong-import-position


def small_config():
  """bmshj2018 at test size; fsdp_min_size low enough that FSDP splits tensors."""
  c = load_config("bmshj2018")
  c.model.num_filters, c.model.num_latents = 16, 24
  c.data.crop_size, c.data.batch_size = 64, 8
  c.fsdp_min_size = 1024
  return c


def one_step(config, axes, devices):
  """(loss, new params as numpy, compiled input shardings, state shardings)."""
  mesh = parallel.make_mesh(axes, devices)
  model, optimizer = model_from_config(config), make_optimizer(config)
  state, state_sharding = sharded_state(model, optimizer, config, mesh)
  batch_sharding = parallel.batch_sharding(mesh)
  step = make_train_step(model, optimizer, config, (state_sharding, batch_sharding))
  images = np.random.default_rng(0).random((8, 64, 64, 3), dtype=np.float32)
  batch = parallel.global_batch(images, batch_sharding)
  compiled_in = step.lower(state, batch).compile().input_shardings[0]
  new_state, metrics = step(state, batch)
  return (float(metrics["loss"]), jax.device_get(new_state.params), compiled_in,
          new_state)


def spec_text(spec) -> str:
  """str(spec) as jax 0.5 writes it: newer releases abbreviate it to P(...)."""
  text = str(spec)
  return "PartitionSpec" + text[1:] if text.startswith("P(") else text


def specs(shardings) -> list[str]:
  return [spec_text(s.spec) for s in jax.tree_util.tree_leaves(shardings)]


def max_diff(a, b) -> float:
  return max(float(np.max(np.abs(x - y)))
             for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


def check_steps(_):
  config = small_config()
  devices = jax.devices()
  loss1, params1, _, _ = one_step(config, {"data": -1}, devices[:1])
  loss8, params8, in8, state8 = one_step(config, {"data": -1}, devices)
  loss_f, params_f, in_f, _ = one_step(config, {"data": 4, "fsdp": 2}, devices)
  state_in8, batch_in8 = in8
  state_inf, batch_inf = in_f
  largest = max(jax.tree_util.tree_leaves(params_f), key=lambda a: a.size)
  return {
      "num_devices": len(devices),
      "loss": [loss1, loss8, loss_f],
      "params_max_diff_8": max_diff(params1, params8),
      "params_max_diff_fsdp": max_diff(params1, params_f),
      "params_max_abs": max(float(np.max(np.abs(p))) for p in jax.tree_util.tree_leaves(params1)),
      "batch_spec_8": spec_text(batch_in8.spec),
      "batch_devices_8": len(batch_in8.device_set),
      "state_specs_8": sorted(set(specs(state_in8))),
      "batch_spec_fsdp": spec_text(batch_inf.spec),
      "state_specs_fsdp": sorted(set(specs(state_inf))),
      "largest_param_shape": list(largest.shape),
      "output_params_specs_8": sorted(set(specs(jax.tree_util.tree_map(
          lambda a: a.sharding, state8.params)))),
  }


def check_restore(workdir):
  """Saves on one mesh, restores onto others, in both directions."""
  config = small_config()
  devices = jax.devices()
  model, optimizer = model_from_config(config), make_optimizer(config)
  meshes = {"1": ({"data": -1}, devices[:1]), "8": ({"data": -1}, devices),
            "fsdp": ({"data": 2, "fsdp": 4}, devices)}
  # A state and its shardings on each mesh: saved from (with values distinct
  # per source, so that a restore of the wrong thing shows) and restored onto.
  placed_states = {name: sharded_state(model, optimizer, config, parallel.make_mesh(axes, devs))
                   for name, (axes, devs) in meshes.items()}
  results = {}
  for offset, (source, (state, _)) in enumerate(placed_states.items(), start=1):
    state = jax.tree_util.tree_map(lambda a, s=offset: a + s if a.ndim else a, state)
    path = os.path.join(workdir, f"from_{source}")
    saver = checkpoint_lib.Checkpointer(path)
    saver.save(1, state, force=True)
    saver.wait()
    saver.close()
    expected = jax.device_get(state)
    for target, (template, shardings) in placed_states.items():
      if target == source:
        continue
      loader = checkpoint_lib.Checkpointer(path)
      restored = loader.restore(template)
      loader.close()
      placed = all(r.sharding == s for r, s in zip(jax.tree_util.tree_leaves(restored),
                                                   jax.tree_util.tree_leaves(shardings)))
      results[f"{source}->{target}"] = {
          "max_diff": max_diff(expected, jax.device_get(restored)),
          "placed_as_requested": placed,
          "devices": len(jax.tree_util.tree_leaves(restored.params)[0].sharding.device_set),
      }
  return results


def check_train(workdir):
  """lic_jax.train.train on 8 devices with FSDP, resumed data-parallel."""
  from lic_jax.train import train  # pylint: disable=import-outside-toplevel

  config = small_config()
  config.data.directory = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                       "lic_jax", "assets", "quickstart")
  config.num_steps, config.checkpoint_every, config.log_every = 2, 2, 1
  config.eval.directory, config.quiet = "", True
  config.mesh.fsdp = 2
  first = train(config, workdir)["losses"]
  config.num_steps = 4
  config.mesh.data, config.mesh.fsdp = 3, 1   # does not fit 8 devices
  try:
    train(config, workdir)
    refused = ""
  except ValueError as e:
    refused = str(e)
  config.mesh.data, config.data.batch_size = -1, 12   # 12 does not split 8 ways
  try:
    train(config, workdir)
    refused_batch = ""
  except ValueError as e:
    refused_batch = str(e)
  config.data.batch_size = 8
  second = train(config, workdir)["losses"]
  return {"first": sorted(first), "second": sorted(second), "refused": refused,
          "refused_batch": refused_batch,
          "finite": all(np.isfinite(v) for v in [*first.values(), *second.values()])}


def check_classify(_):
  """One classification step (batch norm, a frozen stem, dict batches) on
  1 and on 8 devices, and the evaluation over both meshes."""
  from lic_jax import labelled_data, recipes  # pylint: disable=import-outside-toplevel

  config = load_config("classify/cifar10_resnet")
  config.model.depth, config.model.width = 8, 8
  config.data.batch_size, config.eval.batch_size, config.eval.max_examples = 16, 40, 100
  config.freeze = ("stem",)
  recipe = recipes.get(config)
  model, optimizer = recipe.build_model(config), make_optimizer(config)
  local = labelled_data.build_dataset(config).batch(0)
  results = {}
  for name, devices in (("1", jax.devices()[:1]), ("8", jax.devices())):
    mesh = parallel.make_mesh({"data": -1}, devices)
    state, state_sharding = sharded_state(model, optimizer, config, mesh)
    batch_sharding = parallel.batch_sharding(mesh)
    step = make_train_step(model, optimizer, config, (state_sharding, batch_sharding))
    new_state, metrics = step(state, parallel.global_batch(local, batch_sharding))
    summary = recipe.evaluate(model, {"params": new_state.params, **new_state.model_state},
                              config, mesh)
    results[name] = {"loss": float(metrics["loss"]), "eval": summary,
                     "state": jax.device_get((new_state.params, new_state.model_state)),
                     "stem": jax.device_get(state.model_state["batch_stats"]["stem"])}
  return {"num_devices": len(jax.devices()),
          "loss": [results[n]["loss"] for n in ("1", "8")],
          "eval": [results[n]["eval"] for n in ("1", "8")],
          "state_max_diff": max_diff(results["1"]["state"], results["8"]["state"]),
          "frozen_stem_stats_diff": max_diff(
              results["8"]["stem"], results["8"]["state"][1]["batch_stats"]["stem"])}


if __name__ == "__main__":
  check, directory = sys.argv[1], sys.argv[2]
  result = {"steps": check_steps, "restore": check_restore, "train": check_train,
            "classify": check_classify}[check](directory)
  print("RESULT " + json.dumps(result))
