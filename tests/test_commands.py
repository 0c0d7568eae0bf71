"""The commands: `python -m lic_jax` lists them with the version; each one's
--help exits 0 with its docstring's whole first paragraph; the version and
licence are the same everywhere they are stated."""

import importlib
import os
import subprocess
import sys
import tomllib

import pytest

from conftest import ROOT
from lic_jax import __version__, cli
from lic_jax.__main__ import COMMANDS

ARGPARSE = ("baselines", "bd", "codec", "eval", "ohm", "plot")


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
