"""Checkpoints are never corrupt: a process killed while an asynchronous save
is being written leaves the previous checkpoint restorable."""

import os
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

from lic_jax import checkpoint as checkpoint_lib

# Saves step 1 and waits for it; starts the asynchronous save of step 2 (256 MB,
# far from written when save() returns) and SIGKILLs itself right away.
_KILLED_MID_SAVE = """
import os, signal, sys
import numpy as np
import pytest
from lic_jax.checkpoint import Checkpointer

checkpointer = Checkpointer(sys.argv[1], every=1, keep=3)
state = lambda value: {"w": np.full((64, 1024, 1024), value, np.float32),
                       "step": np.asarray(value, np.int32)}
checkpointer.save(1, state(1))
checkpointer.wait()
checkpointer.save(2, state(2))
print("step 2 save started", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _template():
  return {"w": jax.ShapeDtypeStruct((64, 1024, 1024), np.float32),
          "step": jax.ShapeDtypeStruct((), np.int32)}


def test_kill_during_async_save_keeps_previous_checkpoint(tmp_path):
  workdir = str(tmp_path / "run")
  proc = subprocess.run([sys.executable, "-c", _KILLED_MID_SAVE, workdir],
                        capture_output=True, text=True, timeout=600, check=False)
  assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
  assert "step 2 save started" in proc.stdout
  entries = os.listdir(os.path.join(workdir, "checkpoints"))
  # Step 2 was cut off mid-write: its temporary directory is there, unfinished.
  assert "2" not in entries and any(e.startswith("2.") for e in entries), entries

  checkpointer = checkpoint_lib.Checkpointer(workdir, every=1)
  assert checkpointer.latest_step() == 1
  restored = checkpointer.restore(_template())
  assert int(restored["step"]) == 1
  assert float(np.min(restored["w"])) == float(np.max(restored["w"])) == 1.0
  # The run goes on: the next save of step 2 completes and is the latest.
  checkpointer.save(2, {"w": np.zeros((64, 1024, 1024), np.float32),
                        "step": np.asarray(2, np.int32)})
  checkpointer.wait()
  assert checkpointer.latest_step() == 2
  assert int(checkpointer.restore(_template())["step"]) == 2
  checkpointer.close()


def test_checkpoints_from_before_model_state_still_restore(tiny_config, tmp_path):
  """Runs saved when the state was {step, params, opt_state} load as before."""
  from lic_jax.train import train  # pylint: disable=import-outside-toplevel

  tiny_config.num_steps = 2
  train(tiny_config, tiny_config.workdir)
  _, params, _, _ = checkpoint_lib.load_trained(tiny_config.workdir)
  state = checkpoint_lib.Checkpointer(tiny_config.workdir)
  restored = state.restore(jax.eval_shape(lambda: checkpoint_lib.init_state(
      checkpoint_lib.recipes.get(tiny_config).build_model(tiny_config),
      checkpoint_lib.make_optimizer(tiny_config), tiny_config)))
  state.close()
  old = str(tmp_path / "old")
  os.makedirs(old)
  checkpoint_lib.save_config(old, tiny_config)
  saver = checkpoint_lib.Checkpointer(old)
  saver.save(2, {"step": restored.step, "params": restored.params,
                 "opt_state": restored.opt_state}, force=True)
  saver.wait()
  saver.close()
  _, old_params, _, step = checkpoint_lib.load_trained(old)
  assert step == 2
  for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(old_params)):
    np.testing.assert_array_equal(a, b)


def test_run_directories_named_with_glob_characters_are_refused(tmp_path):
  """Orbax writes unreadable checkpoints there: refused before any work."""
  from lic_jax.checkpoint import Checkpointer, InvalidRunDirectoryError  # pylint: disable=g-import-not-at-top

  with pytest.raises(InvalidRunDirectoryError, match=r"contains \[\]: checkpoints cannot"):
    Checkpointer(str(tmp_path / "layer2[2],32"))
  assert not (tmp_path / "layer2[2],32").exists()
