"""Shared fixtures: config loading, tiny configs, the offline data sets."""

import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_ROOT = os.environ.get("LIC_JAX_DATA", os.path.join(ROOT, "..", "shared", "data"))


def load_config(name: str):
  """get_config() of configs/<name>.py."""
  path = os.path.join(ROOT, "configs", f"{name}.py")
  spec = importlib.util.spec_from_file_location(f"configs_{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


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
