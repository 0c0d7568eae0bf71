"""The notebooks in colabs/: stripped in git, parameterized by MODE, and
their Python compiles (CI executes them: colabs/execute.py); the helpers
they share (lic_jax.notebooks) and the budget overrides of their fast mode."""

import glob
import importlib.util
import json
import os
import sys
import types

import pytest

from conftest import ROOT, load_config

from lic_jax import grouping, notebooks, split
from lic_jax.train import with_overrides

NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "colabs", "*.ipynb")))
PAPER_NOTEBOOKS = ("learned_codecs", "cbanet", "ohm", "split_computing", "grouping")


def _read(path):
  with open(path) as f:
    return json.load(f)


def _code(notebook):
  return [(i, "".join(c["source"])) for i, c in enumerate(notebook["cells"])
          if c["cell_type"] == "code"]


def test_there_is_a_quickstart_and_a_notebook_per_paper():
  names = {os.path.splitext(os.path.basename(p))[0] for p in NOTEBOOKS}
  assert names == {"quickstart", *PAPER_NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_is_stripped(path):
  notebook = _read(path)
  for i, cell in enumerate(notebook["cells"]):
    where = f"{os.path.basename(path)} cell {i}"
    if cell["cell_type"] == "code":
      assert cell["outputs"] == [], f"{where} has outputs"
      assert cell["execution_count"] is None, f"{where} has an execution count"
    assert "execution" not in cell["metadata"], f"{where} has execution times"
  assert set(notebook["metadata"]) <= {"kernelspec", "language_info"}, notebook["metadata"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_has_one_parameters_cell_with_the_fast_mode_and_sets_up(path):
  notebook = _read(path)
  tagged = [c for c in notebook["cells"] if "parameters" in c["metadata"].get("tags", [])]
  assert len(tagged) == 1
  assert 'MODE = "fast"' in "".join(tagged[0]["source"])
  assert any("notebooks.setup(MODE" in source for _, source in _code(notebook))


def _python(source: str) -> str:
  """A cell's source with its shell and magic lines (the install) as `pass`:
  they are IPython's, not Python."""
  return "\n".join(l[:len(l) - len(l.lstrip())] + "pass" if l.lstrip().startswith(("!", "%"))
                   else l for l in source.splitlines())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_code_compiles(path):
  for i, source in _code(_read(path)):
    compile(_python(source), f"{os.path.basename(path)}[cell {i}]", "exec")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_the_colab_install_asks_for_the_repository_instead_of_cloning_a_placeholder(
    path, monkeypatch):
  """lic_jax is not published: on Colab without lic_jax, the install cell
  names the REPO_URL form field in one line (it cloned github.com/YOUR-ACCOUNT)."""
  cells = [source for _, source in _code(_read(path)) if "google.colab" in source]
  assert len(cells) == 1 and "YOUR-ACCOUNT" not in cells[0]
  assert 'REPO_URL = ""  # @param {type:"string"}' in cells[0]
  monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
  monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
  with pytest.raises(ValueError, match=r"^lic_jax is not on PyPI: set REPO_URL in this cell "
                                       r"to the git URL of your copy of it"):
    exec(compile(_python(cells[0]), path, "exec"), {})


def test_setup_refuses_an_unknown_mode():
  with pytest.raises(ValueError, match="MODE must be one of fast, full, paper, not 'quick'"):
    notebooks.setup("quick")


def test_the_data_root_is_found_or_named(tmp_path, monkeypatch):
  (tmp_path / "data" / "kodak").mkdir(parents=True)
  monkeypatch.setenv("LIC_JAX_DATA", str(tmp_path / "data"))
  assert notebooks.find_data(str(tmp_path / "nowhere"), ("kodak",)) == str(tmp_path / "data")
  monkeypatch.setenv("LIC_JAX_DATA", str(tmp_path / "empty"))
  with pytest.raises(FileNotFoundError, match=f"no data root with mnist/ .*copy those folders "
                                              f"of the project's data to {notebooks.COLAB_DATA}"):
    notebooks.find_data(str(tmp_path / "nowhere"), ("mnist",))


def test_fast_mode_shrinks_a_config_and_moves_its_runs_only():
  config = load_config("cbanet/hp_cpu")
  config = config.copy_and_resolve_references()
  config.init_from = "runs/cbanet-hp-cpu/base"
  fast = with_overrides(config, {"num_steps": 7, "data": {"batch_size": 2}}, "runs/fast")
  assert (fast.num_steps, fast.data.batch_size, fast.data.crop_size) == (7, 2, 128)
  assert fast.workdir == "runs/fast/cbanet-hp-cpu/base"
  assert fast.init_from == "runs/fast/cbanet-hp-cpu/base"
  # The original is untouched, and the full mode keeps the config as it is.
  assert (config.num_steps, config.workdir) == (5000, "runs/cbanet-hp-cpu/base")
  assert with_overrides(config).to_dict() == config.to_dict()
  with pytest.raises(ValueError, match='unknown config key .*Key "crop" does not exist'):
    with_overrides(config, {"data": {"crop": 64}})


def test_searches_and_sweeps_apply_their_point_overrides():
  search = load_config("split/cifar_search")
  search.point_overrides = {"num_steps": 5, "eval": {"max_examples": 50}}
  search.runs = "runs/fast"
  unit = split.sample_units(search, search.splits[0], 1)[0]
  config = split.point_config(search, unit, "l1")
  assert (config.num_steps, config.eval.max_examples) == (5, 50)
  assert config.workdir.startswith("runs/fast/split/cifar/")
  assert config.init_from == "runs/fast/cifar10_resnet"

  sweep = load_config("grouping/cifar_sweep")
  sweep.point_overrides = {"num_steps": 6}
  sweep.runs = "runs/fast"
  config = grouping.point_config(sweep, grouping.point_args(sweep)[0][1])
  assert config.num_steps == 6 and config.init_from == "runs/fast/grouping/cifar-pretrain"
  paper = load_config("grouping/paper_sweep")
  config = grouping.point_config(paper, grouping.point_args(paper)[0][1])
  assert (config.data.tfds_name, config.init_from) == ("cifar100",
                                                       "runs/grouping/cifar100/pretrain")


def test_the_bundled_levels_curve_codes_real_files_at_rising_rates():
  from lic_jax import eval as eval_lib  # pylint: disable=g-import-not-at-top
  from lic_jax.assets import QUICKSTART_IMAGES  # pylint: disable=g-import-not-at-top

  results = eval_lib.levels_curve(QUICKSTART_IMAGES, max_images=1)["results"]
  assert results["quality"] == [1, 2, 3, 4, 5]
  assert all(a < b for a, b in zip(results["bpp"], results["bpp"][1:]))
  assert all(a < b for a, b in zip(results["psnr-rgb"], results["psnr-rgb"][1:]))
  # Real files: a header and the streams' termination above the estimate.
  assert all(0 < f - e < 0.05 for f, e in zip(results["bpp"], results["bpp_estimated"]))
