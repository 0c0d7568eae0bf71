"""The commands: `python -m lic_jax` lists them with the version; each one's
--help exits 0 with its docstring's whole first paragraph, without importing
JAX, and the old `python -m lic_jax.NAME` still runs it; the version and
licence are the same everywhere they are stated; their output carries no
library chatter, and log lines never split the progress bar."""

import ast
import importlib.util
import os
import re
import subprocess
import sys
import tomllib

import pytest

from conftest import ROOT, requires_tfc
from lic_jax import __version__, cli
from lic_jax.__main__ import COMMANDS


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
  for name, (module, _) in COMMANDS.items():
    for runs in (module, f"lic_jax.{name}"):  # the front, and the module of the old name
      path = os.path.join(ROOT, *runs.split("."))
      main = (os.path.join(path, "__main__.py") if os.path.isdir(path) else path + ".py")
      assert '__name__ == "__main__"' in open(main).read(), (name, main)


# The libraries a command runs on, which its --help and usage errors wait for
# no more (each takes a large part of a second to import, JAX over half of one).
HEAVY = {"jax", "jaxlib", "flax", "optax", "orbax", "numba", "scipy", "matplotlib",
         "tensorflow"}


def _run_listing_imports(*args):
  """_run, with every import listed on stderr (python -X importtime)."""
  return subprocess.run([sys.executable, "-X", "importtime", "-m", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)


def _imported(stderr: str) -> set[str]:
  """The top-level packages `python -X importtime` reports imported."""
  return {line.split("|")[-1].strip().split(".")[0] for line in stderr.splitlines()
          if line.startswith("import time:") and "|" in line}


def _usage_doc(name: str) -> str:
  """The docstring whose first paragraph (at least) a command's --help
  prints: its argparse parser's module's, or absl's main module's (the
  front, or a family's __main__.py), read without importing it."""
  module = {"ohm": "lic_jax.ohm.cli"}.get(name, COMMANDS[name][0])
  spec = importlib.util.find_spec(module)
  path = (os.path.join(spec.submodule_search_locations[0], "__main__.py")
          if spec.submodule_search_locations else spec.origin)
  with open(path) as f:
    return ast.get_docstring(ast.parse(f.read()))


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_exits_0_with_the_whole_first_paragraph_without_importing_jax(name):
  """absl's --help exits 1 unless lic_jax.cli says otherwise; an argparse
  description cut at the docstring's first line stopped mid-sentence; each
  --help took 0.5 to 1.8 s, importing JAX, Flax and orbax for nothing (its
  front, lic_jax.commands, imports them once the flags are parsed)."""
  result = _run_listing_imports("lic_jax", name, "--help")
  assert result.returncode == 0, result.stderr[-2000:]
  imported = _imported(result.stderr)
  assert "absl" in imported or "argparse" in imported, sorted(imported)
  assert not imported & HEAVY, sorted(imported & HEAVY)
  assert cli.summary(_usage_doc(name)) in " ".join(result.stdout.split())


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_old_module_names_still_run_their_command(name):
  """python -m lic_jax.NAME, as before the fronts: the same usage, exit 0."""
  new, old = _run("lic_jax", name, "--help"), _run(f"lic_jax.{name}", "--help")
  assert old.returncode == 0, old.stderr[-2000:]
  assert old.stdout == new.stdout


def test_the_installed_lic_jax_script_runs_the_commands():
  """pyproject.toml's console script: `lic-jax COMMAND` is `python -m lic_jax COMMAND`."""
  script = os.path.join(os.path.dirname(sys.executable), "lic-jax")
  for args in (["--version"], ["bd", "--help"], ["train", "--help"]):
    result = subprocess.run([script, *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == _run("lic_jax", *args).stdout, args


def test_a_usage_error_names_it_in_one_line_without_importing_jax():
  result = _run_listing_imports("lic_jax", "codec", "compress", "--quality")
  assert result.returncode == 2
  assert not _imported(result.stderr) & HEAVY
  errors = [l for l in result.stderr.splitlines() if not l.startswith("import time:")]
  assert errors[-1] == ("python -m lic_jax codec compress: error: argument --quality: "
                        "expected one argument"), errors
  result = _run("lic_jax", "nonsense")
  assert result.returncode == 2 and "invalid choice: 'nonsense'" in result.stderr


def _help(parse, args, capsys) -> str:
  """What `parse(args)` prints for --help, on one line."""
  with pytest.raises(SystemExit):
    parse(args)
  return " ".join(capsys.readouterr().out.split())


def test_the_fronts_offer_the_choices_and_defaults_their_libraries_take(capsys):
  """Named in the fronts, so that --help need not import the libraries."""
  from lic_jax import baselines, bd, codec  # pylint: disable=g-import-not-at-top
  from lic_jax.commands import baselines as baselines_front  # pylint: disable=g-import-not-at-top
  from lic_jax.commands import bd as bd_front  # pylint: disable=g-import-not-at-top
  from lic_jax.commands import codec as codec_front  # pylint: disable=g-import-not-at-top
  from lic_jax.coding import range_coder  # pylint: disable=g-import-not-at-top

  assert codec_front.CODERS == range_coder.CODERS
  assert bd_front.METHODS == bd.METHODS
  assert baselines_front.CODECS == baselines.CODECS
  assert baselines_front.SUBSAMPLING == tuple(sorted(baselines.SUBSAMPLING))
  decompress = _help(codec_front.parser().parse_args, ["decompress", "--help"], capsys)
  assert f"(default {codec.DEFAULT_MAX_PIXELS}," in decompress
  first, second, *_, last = baselines.DEFAULT_QUALITIES
  assert baselines.DEFAULT_QUALITIES == tuple(range(first, last + 1, second - first))
  assert (f"(default {first}, {second}, ..., {last}:"
          in _help(baselines_front.parser().parse_args, ["--help"], capsys))


def test_training_log_has_no_library_chatter_and_never_splits_the_progress_bar(tmp_path):
  """JAX's INFO lines about backends this machine lacks came twice each (its
  own handler and absl's); a step's log line was written after the bar's
  text on the same line."""
  result = _run("lic_jax", "train", "--config", "configs/quickstart.py",
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
      [sys.executable, "-m", "lic_jax", "train", "--config", "configs/quickstart.py",
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
  result = _run("lic_jax", "codec", "compress", "--range-coder", "tfc", image,
                str(tmp_path / "x.lic"))
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stderr == "", result.stderr


def test_a_config_path_outside_a_clone_says_where_configs_come_from(tmp_path):
  """configs/ is not in the package: run elsewhere, the main job says so."""
  result = subprocess.run([sys.executable, "-m", "lic_jax", "train", "--config",
                           "configs/quickstart.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines() == [
      "error: cannot load the config file: [Errno 2] No such file or directory: "
      "'configs/quickstart.py' (configs/ comes with a clone of the repository: run from "
      "its root)"]
