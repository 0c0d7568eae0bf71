"""The commands: `python -m lic_jax` lists them with the version; each one's
--help exits 0 with its docstring's whole first paragraph; the version and
licence are the same everywhere they are stated; their output carries no
library chatter, and log lines never split the progress bar."""

import importlib
import os
import re
import subprocess
import sys
import tomllib

import pytest

from conftest import ROOT, requires_tfc
from lic_jax import __version__, cli
from lic_jax.__main__ import COMMANDS

ARGPARSE = ("baselines", "bd", "codec", "eval", "launch", "ohm", "plot")


def _run(*args):
  return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                        text=True, timeout=300)


def test_version_is_the_packages_everywhere():
  with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
    project = tomllib.load(f)["project"]
  result = _run("lic_jax", "--version")
  assert result.returncode == 0 and result.stdout.strip() == f"lic_jax {project['version']}"
  assert __version__ == project["version"]
  with open(os.path.join(ROOT, "CITATION.cff")) as f:
    assert f'version: "{project["version"]}"' in f.read().splitlines()
  with open(os.path.join(ROOT, "LICENSE")) as f:
    assert "Apache License" in f.read(300) and project["license"]["text"] == "Apache-2.0"


def test_the_command_list_names_every_command_there_is():
  result = _run("lic_jax")
  assert result.returncode == 0
  listed = {line.split()[0] for line in result.stdout.split("commands")[-1].splitlines()[1:]
            if line.strip()}
  assert listed == set(COMMANDS)
  for name in COMMANDS:
    package = os.path.join(ROOT, "lic_jax", name)
    assert (os.path.exists(os.path.join(package, "__main__.py")) if os.path.isdir(package)
            else '__name__ == "__main__"' in open(package + ".py").read()), name


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_exits_0_with_the_whole_first_paragraph(name):
  """absl's --help exits 1 unless lic_jax.cli says otherwise; an argparse
  description cut at the docstring's first line stopped mid-sentence."""
  result = _run(f"lic_jax.{name}", "--help")
  assert result.returncode == 0, result.stderr[-2000:]
  if name in ARGPARSE:
    module = "lic_jax.ohm.cli" if name == "ohm" else f"lic_jax.{name}"
    summary = cli.summary(importlib.import_module(module).__doc__)
    assert summary in " ".join(result.stdout.split())


def test_training_log_has_no_library_chatter_and_never_splits_the_progress_bar(tmp_path):
  """JAX's INFO lines about backends this machine lacks came twice each (its
  own handler and absl's); a step's log line was written after the bar's
  text on the same line."""
  result = _run("lic_jax.train", "--config", "configs/quickstart.py",
                f"--workdir={tmp_path / 'run'}", "--config.num_steps=6",
                "--config.log_every=2", "--config.eval.every=4")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "Unable to initialize backend" not in result.stderr
  assert "xla_bridge" not in result.stderr
  # Every piece of the output between carriage returns and newlines that
  # holds a log line starts with it.
  pieces = re.split(r"[\r\n]", result.stderr)
  logged = [p for p in pieces if "train.py:" in p]
  assert sum("] step " in p for p in logged) >= 4, result.stderr[-2000:]  # 3 steps, 1 eval
  assert all(re.match(r"I\d{4} ", p) for p in logged), logged
  assert any(p.startswith("train: ") for p in pieces)  # the bar was drawn


@pytest.mark.parametrize("devices", [1, 2])
def test_training_caches_its_compilations_except_on_several_cpu_devices(devices, tmp_path):
  """A rerun of a configuration loads its init and step from JAX's
  persistent cache; with several CPU devices the cache is off (jax 0.5.3's
  cached executables deadlocked their collectives)."""
  cache = tmp_path / "cache"
  result = subprocess.run(
      [sys.executable, "-m", "lic_jax.train", "--config", "configs/quickstart.py",
       f"--workdir={tmp_path / 'run'}", "--config.num_steps=1", "--config.eval.directory=",
       "--config.model.num_filters=16", "--config.model.num_latents=16",
       "--config.data.crop_size=64", "--config.data.batch_size=2"],
      cwd=ROOT, capture_output=True, text=True, timeout=300,
      env={**cli.cpu_environment(devices), "LIC_JAX_CACHE": str(cache)})
  assert result.returncode == 0, result.stderr[-2000:]
  entries = os.listdir(cache) if cache.exists() else []
  if devices == 1:
    assert any(name.startswith("jit_train_step-") for name in entries), sorted(entries)
  else:
    assert not entries, entries


@requires_tfc
def test_the_reference_coder_prints_no_tensorflow_gpu_lines(tmp_path):
  image = os.path.join(ROOT, "lic_jax", "assets", "quickstart", "kodim04_crop256.png")
  result = _run("lic_jax.codec", "compress", "--range-coder", "tfc", image,
                str(tmp_path / "x.lic"))
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stderr == "", result.stderr


def test_a_config_path_outside_a_clone_says_where_configs_come_from(tmp_path):
  """configs/ is not in the package: run elsewhere, the main job says so."""
  result = subprocess.run([sys.executable, "-m", "lic_jax.train", "--config",
                           "configs/quickstart.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines() == [
      "error: cannot load the config file: [Errno 2] No such file or directory: "
      "'configs/quickstart.py' (configs/ comes with a clone of the repository: run from "
      "its root)"]
