"""Mesh-sharded training on 8 host devices (in subprocesses, so that the XLA
flag that makes 8 CPU devices applies before JAX starts)."""

import json
import os
import subprocess
import sys

import jax
import pytest

from lic_jax import cli, parallel

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sharding_worker.py")


def _run_worker(check: str, tmp_path) -> dict:
  env = cli.cpu_environment(8)
  proc = subprocess.run([sys.executable, WORKER, check, str(tmp_path)], env=env,
                        capture_output=True, text=True, timeout=900, check=False)
  lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
  assert proc.returncode == 0 and lines, proc.stderr[-3000:]
  return json.loads(lines[-1][len("RESULT "):])


def test_one_step_on_8_devices_equals_1_device(tmp_path):
  r = _run_worker("steps", tmp_path)
  assert r["num_devices"] == 8
  loss1, loss8, loss_fsdp = r["loss"]
  assert loss8 == pytest.approx(loss1, rel=1e-5, abs=1e-5)
  assert loss_fsdp == pytest.approx(loss1, rel=1e-5, abs=1e-5)
  # Parameters after the update, 8-way data parallel and 4x2 data x FSDP.
  assert r["params_max_diff_8"] <= 1e-5
  assert r["params_max_diff_fsdp"] <= 1e-5
  # The compiled step takes the batch split 8 ways, the state replicated ...
  assert r["batch_spec_8"] == "PartitionSpec('data',)" and r["batch_devices_8"] == 8
  assert r["state_specs_8"] == ["PartitionSpec()"]
  assert r["output_params_specs_8"] == ["PartitionSpec()"]
  # ... and with an fsdp axis, the batch over both axes and large tensors split.
  assert r["batch_spec_fsdp"] == "PartitionSpec(('data', 'fsdp'),)"
  assert "PartitionSpec(None, None, None, 'fsdp')" in r["state_specs_fsdp"]
  assert "PartitionSpec()" in r["state_specs_fsdp"]  # small ones replicated


def test_checkpoints_restore_across_meshes(tmp_path):
  r = _run_worker("restore", tmp_path)
  assert set(r) == {"1->8", "1->fsdp", "8->1", "8->fsdp", "fsdp->1", "fsdp->8"}
  for name, result in r.items():
    assert result["max_diff"] == 0.0, name
    assert result["placed_as_requested"], name
    assert result["devices"] == (1 if name.endswith("->1") else 8), name


def test_train_runs_sharded_and_resumes_on_another_mesh(tmp_path):
  r = _run_worker("train", tmp_path)
  assert r["first"] == [1, 2] and r["second"] == [3, 4] and r["finite"]
  assert "does not fit 8 devices" in r["refused"]
  assert "batch size 12 is not a multiple of the 8 devices" in r["refused_batch"]


def test_classification_step_on_8_devices_equals_1_device(tmp_path):
  r = _run_worker("classify", tmp_path)
  assert r["num_devices"] == 8
  loss1, loss8 = r["loss"]
  assert loss8 == pytest.approx(loss1, rel=1e-5)
  # Batch statistics over the global batch, whichever devices hold it.
  assert r["state_max_diff"] <= 1e-5
  assert r["frozen_stem_stats_diff"] == 0.0
  eval1, eval8 = r["eval"]
  assert eval1["num_examples"] == eval8["num_examples"] == 100
  assert eval8["accuracy"] == eval1["accuracy"]
  assert eval8["loss"] == pytest.approx(eval1["loss"], rel=1e-5)


def test_mesh_shape_resolution_and_errors():
  assert parallel.mesh_shape({"data": -1}, 8) == {"data": 8}
  assert parallel.mesh_shape({"data": -1, "fsdp": 2}, 8) == {"data": 4, "fsdp": 2}
  assert parallel.mesh_shape({"data": 2, "fsdp": 4}, 8) == {"data": 2, "fsdp": 4}
  mesh = parallel.make_mesh({"data": -1}, jax.devices()[:1])
  parallel.check_batch_size(8, mesh)
  for bad, message in (({"data": -1, "fsdp": -1}, "at most one"),
                       ({"data": 3}, "does not fit"),
                       ({"data": 2}, "uses 2 devices"),
                       ({"model": 8}, "unknown mesh axes"),
                       ({}, "names no axis")):
    with pytest.raises(ValueError, match=message):
      parallel.mesh_shape(bad, 8)
