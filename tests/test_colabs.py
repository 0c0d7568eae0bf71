"""The notebooks are valid and their Python compiles (shell lines aside)."""

import glob
import json
import os

import pytest

from conftest import ROOT

NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "colabs", "*.ipynb")))


def test_there_are_notebooks():
  assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_code_compiles(path):
  with open(path) as f:
    notebook = json.load(f)
  assert notebook["nbformat"] == 4
  for i, cell in enumerate(notebook["cells"]):
    if cell["cell_type"] != "code":
      continue
    lines = [l for l in "".join(cell["source"]).splitlines()
             if not l.lstrip().startswith(("!", "%"))]
    compile("\n".join(lines), f"{os.path.basename(path)}[cell {i}]", "exec")
