"""Shared fixtures: config loading, tiny configs, the offline data sets, killing
a training run mid-way."""

import importlib.util
import json
import os
import signal
import subprocess
import time

import pytest

# The suite compiles with XLA's optimizations off (JAX's
# jax_disable_most_optimizations, which JAX added for smoke tests; the
# commands and scripts the tests start inherit it through the environment):
# most of a test here is XLA:CPU compiling, not running. In CI the lock's
# suite took 862.3 s against 1466.3 s at the defaults, the current stack's
# 944.9 s against 1886.2 s (2026-12-07). Its semantics are the same; only
# float rounding may differ in the last bit (one of the bundled tables'
# 5504 CDF entries came out 1 apart), which the integer coding path does not
# see: it codes with stored tables. What must hold at the defaults is
# checked at them: benchmarks/roundtrip.py decodes at them (so a file
# written here is decoded by differently compiled code), the bundled tables
# are rebuilt at them, and CI runs the notebooks at them.
# JAX_DISABLE_MOST_OPTIMIZATIONS=0 runs the suite at the defaults.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")

from lic_jax import cli  # pylint: disable=g-import-not-at-top,wrong-import-position
from lic_jax.coding import tfc_ops

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_ROOT = os.environ.get("LIC_JAX_DATA", os.path.join(ROOT, "..", "shared", "data"))

# The tests' own compilations share JAX's persistent cache with the commands
# they start ($LIC_JAX_CACHE: CI gives each stack a fresh one), so a model
# and step compiled by one test are loaded by the next. Only executables of
# a second or more are written: writing all of them made test_coding.py
# and test_train.py slower (352.7 s against 330.3 s without the cache; 1480
# entries). At a second, test_train.py, test_sweep.py and test_readme.py,
# which train the same tiny configs again and again, took 196.2 s against
# 297.6 s without; test_paper_readiness.py and test_cbanet.py, whose large
# executables compile once each, 718.9 s against 674.1 s (2026-12-06).
cli.enable_compilation_cache(min_compile_time_s=1.0)

# The only tests that may skip where TensorFlow is not installed (the current
# stack of .ci/run), with the reason starting with TF_SKIP.
TF_SKIP = "needs TensorFlow"
requires_tfc = pytest.mark.skipif(
    not tfc_ops.available(),
    reason=f"{TF_SKIP}: tensorflow-compression's ops, the reference coder "
           "(pip install 'lic_jax[tfc]')")
requires_tfds = pytest.mark.skipif(
    importlib.util.find_spec("tensorflow_datasets") is None,
    reason=f"{TF_SKIP}: tensorflow-datasets (pip install 'lic_jax[tfds]')")


@pytest.fixture
def without_tensorflow(tmp_path) -> dict[str, str]:
  """The environment of a subprocess in which importing TensorFlow (or tfc,
  or tfds) fails, as where it is not installed: stub packages that raise
  ImportError come first on its path."""
  stubs = tmp_path / "no_tensorflow"
  for name in ("tensorflow", "tensorflow_compression", "tensorflow_compression_ops",
               "tensorflow_datasets"):
    (stubs / name).mkdir(parents=True)
    (stubs / name / "__init__.py").write_text(
        f"raise ImportError('{name} is not installed here (a test blocks it)')\n")
  path = os.pathsep.join(p for p in (str(stubs), os.environ.get("PYTHONPATH")) if p)
  return {**os.environ, "PYTHONPATH": path}


def pytest_sessionfinish(session, exitstatus):
  """With LIC_JAX_ONLY_TF_SKIPS=1 (CI), a skip for any other reason (missing
  data, a missing tool) fails the run: on both tested stacks every other
  test must run."""
  if os.environ.get("LIC_JAX_ONLY_TF_SKIPS") != "1" or exitstatus not in (0, 5):
    return
  reporter = session.config.pluginmanager.get_plugin("terminalreporter")
  others = [report for report in (reporter.stats.get("skipped", []) if reporter else [])
            if TF_SKIP not in str(report.longrepr)]
  if others:
    reporter.write_line(f"LIC_JAX_ONLY_TF_SKIPS: {len(others)} tests skipped for a reason "
                        f"other than {TF_SKIP!r}:", red=True)
    for report in others:
      reporter.write_line(f"  {report.nodeid}: {report.longrepr}")
    session.exitstatus = 1


def load_config(name: str):
  """get_config() of configs/<name>.py."""
  from lic_jax.train import load_config as load_file  # pylint: disable=g-import-not-at-top

  return load_file(os.path.join(ROOT, "configs", f"{name}.py"))


@pytest.fixture
def tiny_config(tmp_path):
  """A seconds-per-run hyperprior on the quickstart images."""
  c = load_config("quickstart")
  c.model.num_filters = 16
  c.model.num_latents = 16
  c.data.crop_size = 64
  c.data.batch_size = 2
  c.num_steps = 8
  c.log_every = 1
  c.checkpoint_every = 2
  c.eval.directory = ""
  c.quiet = True
  c.workdir = str(tmp_path / "run")
  return c


@pytest.fixture
def kodak_dir():
  path = os.path.join(DATA_ROOT, "kodak")
  if not os.path.isdir(path):
    pytest.skip(f"Kodak not found at {path} (set LIC_JAX_DATA)")
  return path


@pytest.fixture
def reference_dir():
  path = os.path.join(ROOT, "..", "shared", "reference", "kodak")
  if not os.path.isdir(path):
    pytest.skip(f"reference results not found at {path}")
  return path


def killed_and_resumed(command, workdir: str, kill_after: int = 6, more: int = 4
                       ) -> dict[int, dict]:
  """Runs the training command `command(num_steps)` (a long run), SIGKILLs
  it once a checkpoint of at least `kill_after` steps is complete, resumes
  it to `more` steps past its newest checkpoint; returns every logged step's
  record (see logged_steps), checked to cover steps 1.. without a gap.

  The killed process may have logged a few steps past the resumed run's end
  before the kill landed: those records are returned too.
  """
  proc = subprocess.Popen(command(10_000), cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
  checkpoints = os.path.join(workdir, "checkpoints")
  deadline = time.time() + 240
  while time.time() < deadline:
    steps = [int(d) for d in os.listdir(checkpoints) if d.isdigit()] if os.path.isdir(
        checkpoints) else []
    if steps and max(steps) >= kill_after:
      break
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    time.sleep(0.2)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert proc.returncode == -signal.SIGKILL
  from lic_jax import checkpoint as checkpoint_lib  # pylint: disable=g-import-not-at-top

  latest = checkpoint_lib.Checkpointer(workdir).latest_step()
  assert latest is not None and latest >= kill_after
  subprocess.run(command(latest + more), cwd=ROOT, check=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  records = logged_steps(workdir)
  assert sorted(records) == list(range(1, max(max(records), latest + more) + 1))
  return records


def logged_steps(workdir: str) -> dict[int, dict]:
  """Each training step's record in metrics.jsonl; a replayed step keeps its last."""
  records = {}
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    for line in f:
      record = json.loads(line)
      if "loss" in record:
        records[record["step"]] = record
  return records
