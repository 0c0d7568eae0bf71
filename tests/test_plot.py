"""RD plots are written from results files, in the format of the extension."""

import glob
import json
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
  subprocess.run([sys.executable, "-m", "lic_jax", "plot", *files, "--output", str(output),
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
  result = subprocess.run([sys.executable, "-m", "lic_jax", "plot", str(bad), "--output",
                           str(tmp_path / "x.png")], cwd=ROOT, capture_output=True, text=True)
  assert result.returncode != 0 and "not a results file" in result.stderr


def test_reference_curves_are_dashed_and_max_bpp_cuts_the_axis(reference_dir, tmp_path):
  ours = tmp_path / "ours.json"
  ours.write_text('{"name": "ours", "results": {"bpp": [0.2, 0.5, 3.0], '
                  '"psnr-rgb": [27.0, 30.0, 40.0]}}')
  output = tmp_path / "rd.svg"
  subprocess.run([sys.executable, "-m", "lic_jax", "plot", str(ours),
                  os.path.join(reference_dir, "jpeg.json"), "--output", str(output),
                  "--max-bpp", "1.0"], cwd=ROOT, check=True, capture_output=True)
  text = output.read_text()
  assert "JPEG (ref)" in text and "ours" in text and "stroke-dasharray" in text
  # The point at 3 bpp is left out, so no tick reaches 3 (SVG keeps tick
  # labels as comments); without --max-bpp there is one.
  assert "<!-- 3.0 -->" not in text and "<!-- 1.0 -->" in text
  subprocess.run([sys.executable, "-m", "lic_jax", "plot", str(ours), "--output", str(output)],
                 cwd=ROOT, check=True, capture_output=True)
  assert "<!-- 3.0 -->" in output.read_text()


def test_training_curves_of_a_run(tmp_path):
  run = tmp_path / "run"
  run.mkdir()
  records = [{"step": s, "loss": 2.0 / s, "accuracy": 0.1 * s, "steps_per_s": 3.0}
             for s in range(1, 9)]
  records.insert(4, {"step": 4, "eval": {"accuracy": 0.5, "loss": 1.0, "split": "test"}})
  records.append({"step": 8, "loss": 0.2, "accuracy": 0.9})  # replayed after a resume
  records.append({"step": 8, "eval": {"accuracy": 0.7, "loss": 0.8, "split": "test"}})
  (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
  from lic_jax import plot  # pylint: disable=import-outside-toplevel

  train, evals = plot.read_metrics(str(run))
  assert list(train["loss"][0]) == list(range(1, 9)) and train["loss"][1][-1] == 0.2
  assert list(evals["accuracy"][0]) == [4, 8] and list(evals["accuracy"][1]) == [0.5, 0.7]
  assert "split" not in evals
  output = tmp_path / "curves.png"
  subprocess.run([sys.executable, "-m", "lic_jax", "plot", "--run", str(run), "--output",
                  str(output)], cwd=ROOT, check=True, capture_output=True)
  assert Image.open(output).size[0] > 1000  # two panels: loss, accuracy
  both = subprocess.run([sys.executable, "-m", "lic_jax", "plot", "--run", str(run), "x.json",
                         "--output", str(output)], cwd=ROOT, capture_output=True, text=True)
  assert both.returncode == 1 and both.stderr.startswith("error: give results files or --run")


def test_drawing_leaves_the_notebooks_matplotlib_backend_alone(reference_dir, tmp_path):
  """lic_jax's figures are drawn on their own Figure, never through pyplot's
  global backend: a notebook that imports lic_jax and draws with it still
  shows its own figures (issue 39: plot.py set 'Agg' at import, so no
  plt.show() displayed anything)."""
  script = f"""
import glob, matplotlib
matplotlib.use("svg")
from lic_jax import plot
from lic_jax.grouping import cli
from lic_jax.split import cli
plot.plot([plot.load(p) for p in sorted(glob.glob({os.path.join(reference_dir, '*.json')!r}))],
          {str(tmp_path / 'rd.png')!r})
print(matplotlib.get_backend())
"""
  result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.split() == ["svg"] and (tmp_path / "rd.png").stat().st_size > 10_000
