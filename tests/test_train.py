"""Training: loss goes down, resume (also after SIGKILL) replays exactly."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, killed_and_resumed
from lic_jax import checkpoint as checkpoint_lib
from lic_jax.train import train


def test_loss_decreases_over_50_steps(tiny_config):
  tiny_config.num_steps = 50
  tiny_config.checkpoint_every = 50
  losses = train(tiny_config, tiny_config.workdir)["losses"]
  values = np.array([losses[s] for s in range(1, 51)])
  assert np.all(np.isfinite(values))
  first, last = values[:10].mean(), values[-10:].mean()
  assert last < 0.7 * first, (first, last)


def test_rerunning_a_finished_run_reports_its_final_evaluation(tiny_config):
  tiny_config.num_steps = 2
  tiny_config.eval.directory = os.path.join(ROOT, "lic_jax", "assets", "quickstart")
  first = train(tiny_config, tiny_config.workdir)
  metrics_file = os.path.join(tiny_config.workdir, "metrics.jsonl")
  with open(metrics_file) as f:
    logged = f.read()
  again = train(tiny_config, tiny_config.workdir)
  assert again["losses"] == {}  # nothing trained
  assert again["eval"]["mean"] == pytest.approx(first["eval"]["mean"])
  with open(metrics_file) as f:
    assert f.read() == logged  # the evaluation is not logged twice


def test_ms_ssim_distortion_trains(tiny_config):
  tiny_config.distortion = "ms-ssim"
  tiny_config.lmbda = 10.0
  tiny_config.data.crop_size = 192  # five MS-SSIM scales need >= 176 pixels
  tiny_config.data.batch_size = 1
  tiny_config.num_steps = 3
  losses = train(tiny_config, tiny_config.workdir)["losses"]
  assert sorted(losses) == [1, 2, 3] and all(np.isfinite(v) for v in losses.values())
  records = [json.loads(l) for l in open(os.path.join(tiny_config.workdir, "metrics.jsonl"))]
  # loss = bpp + lambda * (1 - MS-SSIM), so it lies between bpp and bpp + lambda.
  for r in records:
    assert r["bpp"] < r["loss"] < r["bpp"] + tiny_config.lmbda


def test_resume_replays_the_uninterrupted_trajectory(tiny_config, tmp_path):
  reference = train(tiny_config, str(tmp_path / "reference"))["losses"]
  assert sorted(reference) == list(range(1, 9))

  workdir = str(tmp_path / "resumed")
  tiny_config.num_steps = 4
  first = train(tiny_config, workdir)["losses"]
  assert checkpoint_lib.Checkpointer(workdir).latest_step() == 4
  tiny_config.num_steps = 8
  second = train(tiny_config, workdir)["losses"]
  assert sorted(first) == [1, 2, 3, 4] and sorted(second) == [5, 6, 7, 8]
  for step in range(1, 9):
    resumed = first.get(step, second.get(step))
    np.testing.assert_allclose(resumed, reference[step], rtol=1e-6)


def _train_cli(workdir, num_steps, extra=()):
  return [sys.executable, "-m", "lic_jax", "train",
          "--config", os.path.join(ROOT, "configs", "quickstart.py"),
          "--workdir", workdir,
          "--config.model.num_filters=16", "--config.model.num_latents=16",
          "--config.data.crop_size=64", "--config.data.batch_size=2",
          f"--config.num_steps={num_steps}", "--config.log_every=1",
          "--config.checkpoint_every=3", "--config.eval.directory=",
          "--config.quiet=True", *extra]


def test_resume_after_sigkill(tiny_config, tmp_path):
  killed = str(tmp_path / "killed")
  # Every logged step, before and after the kill, must lie on the
  # uninterrupted trajectory.
  records = killed_and_resumed(lambda n: _train_cli(killed, n), killed)
  resumed = {step: r["loss"] for step, r in records.items()}
  last = max(resumed)
  tiny_config.num_steps = last
  tiny_config.checkpoint_every = 3
  reference = train(tiny_config, str(tmp_path / "reference"))["losses"]
  for step in range(1, last + 1):
    np.testing.assert_allclose(resumed[step], reference[step], rtol=1e-5,
                               err_msg=f"step {step}")


def test_unknown_config_key_is_a_clear_error(tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "lic_jax", "train", "--config",
       os.path.join(ROOT, "configs", "quickstart.py"), "--config.learning_rat=1",
       "--workdir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
  assert result.returncode != 0
  assert "learning_rat" in result.stderr
  assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["train", "sweep"])
def test_the_papers_lambda_as_a_config_key_suggests_lmbda(tmp_path, command):
  """`--config.lambda` (the README writes lambda; the key is lmbda, since
  lambda is a Python keyword) is one line naming the key and the spelling."""
  config, rest = (("quickstart.py", ["--workdir", str(tmp_path)]) if command == "train"
                  else ("bmshj2018_cpu_sweep.py", []))
  result = subprocess.run(
      [sys.executable, "-m", f"lic_jax.{command}", "--config",
       os.path.join(ROOT, "configs", config), "--config.lambda=0.01", *rest],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines() == [
      "error: unknown config key 'lambda': 'lambda' is a Python keyword, never a key; "
      "did you mean 'lmbda'?"]


def test_unknown_data_source_is_a_clear_error(tiny_config):
  tiny_config.data.source = "ftp"
  with pytest.raises(ValueError, match="unknown data source 'ftp'"):
    train(tiny_config, tiny_config.workdir)


def test_a_mesh_that_does_not_fit_is_a_clear_error(tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "lic_jax", "train", "--config",
       os.path.join(ROOT, "configs", "quickstart.py"), "--config.mesh.data=3",
       "--workdir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
  assert result.returncode != 0
  assert "error: mesh {'data': 3, 'fsdp': 1} does not fit 1 devices" in result.stderr
  assert "Traceback" not in result.stderr


def test_resuming_with_another_config_is_refused_and_config_json_kept(tiny_config):
  tiny_config.num_steps = 2
  train(tiny_config, tiny_config.workdir)
  stored = open(os.path.join(tiny_config.workdir, "config.json")).read()
  tiny_config.lmbda = 0.0035
  tiny_config.data.batch_size = 4
  with pytest.raises(checkpoint_lib.ConfigChangedError,
                     match=r"data.batch_size \(2 -> 4\), lmbda \(0.013 -> 0.0035\)"):
    train(tiny_config, tiny_config.workdir)
  assert open(os.path.join(tiny_config.workdir, "config.json")).read() == stored
  # Run length and logging may change: the stored config follows them.
  tiny_config.lmbda, tiny_config.data.batch_size = 0.013, 2
  tiny_config.num_steps, tiny_config.log_every = 3, 2
  assert sorted(train(tiny_config, tiny_config.workdir)["losses"]) == [3]
  assert checkpoint_lib.load_config(tiny_config.workdir).num_steps == 3
  # An explicit opt-in continues with the new values, and records them.
  tiny_config.lmbda, tiny_config.num_steps = 0.0035, 4
  tiny_config.allow_changes = True
  assert sorted(train(tiny_config, tiny_config.workdir)["losses"]) == [4]
  assert checkpoint_lib.load_config(tiny_config.workdir).lmbda == 0.0035


def test_an_architecture_change_is_refused_even_with_allow_changes(tiny_config):
  tiny_config.num_steps = 1
  train(tiny_config, tiny_config.workdir)
  stored = open(os.path.join(tiny_config.workdir, "config.json")).read()
  tiny_config.num_steps, tiny_config.allow_changes = 2, True
  tiny_config.model.num_filters = 8
  with pytest.raises(checkpoint_lib.ConfigChangedError,
                     match=r"holds another architecture: model.num_filters \(16 -> 8\)"):
    train(tiny_config, tiny_config.workdir)
  # Another optimizer has another state: refused by the restore, in one line.
  tiny_config.model.num_filters, tiny_config.optimizer = 16, "sgd"
  with pytest.raises(checkpoint_lib.IncompatibleCheckpointError,
                     match=r"^the checkpoint of step 1 in .* does not fit this config's "
                           r"training state \(another model, optimizer.*\.\.\.$"):
    train(tiny_config, tiny_config.workdir)
  assert open(os.path.join(tiny_config.workdir, "config.json")).read() == stored
  assert checkpoint_lib.Checkpointer(tiny_config.workdir).latest_step() == 1


def test_a_folder_of_unreadable_images_is_refused_before_training(tmp_path):
  images = tmp_path / "images"
  images.mkdir()
  for name in ("a.png", "b.jpg", "c.png"):
    (images / name).write_bytes(b"\x89PNG but not really")
  workdir = tmp_path / "run"
  result = subprocess.run(_train_cli(str(workdir), 2, (f"--config.data.directory={images}",)),
                          cwd=ROOT, capture_output=True, text=True)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      f"error: none of the 3 image files in {str(images)!r} can be read (the first, "
      f"{str(images / 'a.png')!r}, is not a readable image)")
  assert "Traceback" not in result.stderr and not workdir.exists()


def test_changed_config_is_a_one_line_error_from_the_cli(tmp_path):
  workdir = str(tmp_path / "run")
  subprocess.run(_train_cli(workdir, 1), cwd=ROOT, check=True, capture_output=True)
  result = subprocess.run(_train_cli(workdir, 2, ("--config.lmbda=0.0035",)), cwd=ROOT,
                          capture_output=True, text=True)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1].startswith(
      f"error: {workdir!r} was trained with another config: lmbda (0.013 -> 0.0035)")
  assert "Traceback" not in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_checkpoints_the_current_step_and_exits_in_seconds(tmp_path, signum):
  workdir = str(tmp_path / "run")
  # No periodic checkpoint in reach: what is saved is the signal's doing.
  proc = subprocess.Popen(_train_cli(workdir, 10_000, ("--config.checkpoint_every=100000",)),
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  metrics = os.path.join(workdir, "metrics.jsonl")
  deadline = time.time() + 240
  while time.time() < deadline and not (
      os.path.exists(metrics) and len(open(metrics).readlines()) >= 5):
    assert proc.poll() is None, proc.stderr.read()[-2000:]
    time.sleep(0.2)
  proc.send_signal(signum)
  sent = time.time()
  _, stderr = proc.communicate(timeout=60)
  assert time.time() - sent < 20
  assert proc.returncode == 1
  last_line = stderr.strip().splitlines()[-1]
  assert last_line.startswith(f"error: interrupted ({signal.Signals(signum).name}) after step ")
  assert "run the same command again to resume" in last_line and "Traceback" not in stderr
  step = int(last_line.split("after step ")[1].split(",")[0])
  assert checkpoint_lib.Checkpointer(workdir).latest_step() == step >= 5
  assert max(int(json.loads(l)["step"]) for l in open(metrics)) == step


# Runs at XLA's defaults (the suite compiles at level 0, where
# train.initializer_compiler_options leaves the initializers be): the
# variables train.sharded_state builds, against the initializers compiled
# at the defaults. Prints how many arrays were compared.
_INITIALIZERS_AT_DEFAULTS = """
import sys
import jax
import numpy as np
from lic_jax import parallel, recipes
from lic_jax.train import load_config, sharded_state
from lic_jax.train_state import init_variables, make_optimizer
assert not jax.config.read("jax_disable_most_optimizations")
for spec in sys.argv[1:]:
  config = load_config(spec)
  model = recipes.get(config).build_model(config)
  state, _ = sharded_state(model, make_optimizer(config), config, parallel.make_mesh(config.mesh))
  built = jax.tree_util.tree_leaves_with_path({"params": state.params, **state.model_state})
  reference = jax.tree_util.tree_leaves_with_path(jax.jit(lambda: init_variables(model, config))())
  assert [path for path, _ in built] == [path for path, _ in reference], spec
  for (path, a), (_, b) in zip(built, reference):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and np.array_equal(a.view(np.uint8), b.view(np.uint8)), (spec, path)
  print(spec, len(built))
"""


def test_lightly_compiled_initializers_give_the_default_compilations_variables():
  """train.sharded_state compiles the initializers at XLA's optimization
  level 2, not 3: the same variables bit for bit, for a model of each kind of
  initializer (GDN, a factorized prior and hyperprior; a masked context
  network; a ResNet with batch statistics). ms2020 and CBANet (bam0) were
  checked too, outside the suite: 68 s and 30 s of compiling at the defaults."""
  specs = ["configs/quickstart.py", "configs/prior_comparison_cpu.py:mbt2018,0.0067",
           "configs/classify/cifar10_resnet.py"]
  done = subprocess.run([sys.executable, "-c", _INITIALIZERS_AT_DEFAULTS, *specs], cwd=ROOT,
                        env={**os.environ, "JAX_DISABLE_MOST_OPTIMIZATIONS": "0"},
                        capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  counts = dict(line.rsplit(" ", 1) for line in done.stdout.splitlines())
  assert list(counts) == specs and all(int(n) > 0 for n in counts.values()), done.stdout
