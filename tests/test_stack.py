"""What installs where: the core needs no TensorFlow (it is the [tfc] and
[tfds] extras), and the codec codes Kodak without it."""

import os
import subprocess
import sys
import tomllib

import numpy as np
from packaging.requirements import Requirement
from packaging.version import Version

from conftest import ROOT, requires_tfc
from lic_jax import image as image_lib
from lic_jax.assets import QUICKSTART_IMAGES


def _requirement_names(requirements: list[str]) -> set[str]:
  return {Requirement(r).name.lower() for r in requirements}


def test_tensorflow_is_only_in_the_extras():
  with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
    project = tomllib.load(f)["project"]
  core = _requirement_names(project["dependencies"])
  assert not any(name.startswith("tensorflow") for name in core), core
  extras = project["optional-dependencies"]
  assert {"tensorflow", "tensorflow-compression-ops"} <= _requirement_names(extras["tfc"])
  assert {"tensorflow", "tensorflow-datasets"} <= _requirement_names(extras["tfds"])
  assert project["requires-python"] == ">=3.11,<3.14"


def _bash_block_after(heading: str) -> list[str]:
  """The lines of the README's first bash block under `heading`."""
  with open(os.path.join(ROOT, "README.md")) as f:
    section = f.read().split(heading, 1)[1]
  return section.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()


def test_the_main_jobs_set_up_installs_no_extras_and_ci_runs_the_tests_set_up():
  """The main job needs neither TensorFlow nor Jupyter (the set-up line
  installed both: 3.3 GB against 1.1 GB); CI installs what the README's
  test section says, on the lock."""
  set_up = _bash_block_after("## Set up and run the main job")[0]
  assert set_up.endswith("pip install -c requirements-lock.txt -e ."), set_up
  tests = _bash_block_after("## Run the tests")
  assert tests[0] == "pip install -c requirements-lock.txt -e '.[test,tfc,tfds,notebooks]'"
  assert tests[1] == "python -m pytest -q -n 2 --dist loadfile --durations=20"
  with open(os.path.join(ROOT, ".ci", "run")) as f:
    ci = f.read().splitlines()
  assert tests[0] in ci and tests[1] in ci
  with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
    core = _requirement_names(tomllib.load(f)["project"]["dependencies"])
  assert not core & {"jupyter", "notebook", "ipykernel", "nbclient", "pytest"}, core


def _pins(name: str) -> dict[str, str]:
  with open(os.path.join(ROOT, name)) as f:
    return dict(line.strip().lower().replace("_", "-").split("==") for line in f if "==" in line)


def test_the_two_tested_stacks():
  """requirements-lock.txt: the exact stack with TensorFlow 2.17 and
  jax 0.5.3; requirements-current.txt: the newest releases, no TensorFlow."""
  lock, current = _pins("requirements-lock.txt"), _pins("requirements-current.txt")
  assert lock["jax"] == "0.5.3" and lock["tensorflow-compression-ops"] == "2.17.0"
  assert not any(name.startswith("tensorflow") for name in current), current
  assert Version(current["jax"]) >= Version("0.10") and Version(current["numpy"]) >= Version("2")


def test_importing_every_module_never_imports_tensorflow():
  script = ("import importlib, pkgutil, sys, lic_jax\n"
            "names = [m.name for m in pkgutil.walk_packages(lic_jax.__path__, 'lic_jax.')]\n"
            "for name in names: importlib.import_module(name)\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0].startswith('tensorflow'))\n"
            "print(len(names), loaded)")
  result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, check=True)
  count, loaded = result.stdout.split(" ", 1)
  assert int(count) > 40 and loaded.strip() == "[]", result.stdout


def _codec(*args, env=None):
  return subprocess.run([sys.executable, "-m", "lic_jax", "codec", *map(str, args)], cwd=ROOT,
                        capture_output=True, text=True, env=env)


def test_a_missing_reference_coder_is_one_line(without_tensorflow, tmp_path):
  source = os.path.join(QUICKSTART_IMAGES, "kodim23_crop256.png")
  result = _codec("compress", source, tmp_path / "a.lic", "--range-coder", "tfc",
                  env=without_tensorflow)
  assert result.returncode == 1 and result.stderr.strip() == (
      "error: tensorflow-compression's range coder cannot be imported (tensorflow_compression_ops"
      " is not installed here (a test blocks it)): pip install 'lic_jax[tfc]'")


@requires_tfc
def test_both_coders_write_and_read_the_same_files(tmp_path):
  source = os.path.join(QUICKSTART_IMAGES, "kodim23_crop256.png")
  files = {}
  for coder in ("lic_jax", "tfc"):
    files[coder] = tmp_path / f"{coder}.lic"
    assert _codec("compress", source, files[coder], "--range-coder", coder).returncode == 0
  assert files["tfc"].read_bytes() == files["lic_jax"].read_bytes()
  decoded = {}
  for coder in ("lic_jax", "tfc"):
    out = tmp_path / f"{coder}.png"
    result = _codec("decompress", files["lic_jax"], out, "--range-coder", coder)
    assert result.returncode == 0, result.stderr
    decoded[coder] = image_lib.read_rgb_uint8(str(out))
  np.testing.assert_array_equal(decoded["tfc"], decoded["lic_jax"])
