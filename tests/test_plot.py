"""RD plots are written from results files, in the format of the extension."""

import glob
import os
import subprocess
import sys

import pytest
from PIL import Image

from conftest import ROOT


@pytest.mark.parametrize("extension", ["png", "svg"])
def test_plot_cli_draws_reference_curves(reference_dir, tmp_path, extension):
  files = sorted(glob.glob(os.path.join(reference_dir, "*.json")))
  output = tmp_path / f"rd.{extension}"
  subprocess.run([sys.executable, "-m", "lic_jax.plot", *files, "--output", str(output),
                  "--metric", "both"], cwd=ROOT, check=True, capture_output=True)
  if extension == "png":
    with Image.open(output) as img:
      assert img.size[0] > 1000 and img.size[1] > 500  # two panels at 150 dpi
  else:
    text = output.read_text()
    assert text.lstrip().startswith("<?xml") and "JPEG" in text


def test_plot_refuses_a_file_that_is_not_results(tmp_path):
  bad = tmp_path / "bad.json"
  bad.write_text('{"name": "x"}')
  result = subprocess.run([sys.executable, "-m", "lic_jax.plot", str(bad), "--output",
                           str(tmp_path / "x.png")], cwd=ROOT, capture_output=True, text=True)
  assert result.returncode != 0 and "not a results file" in result.stderr
