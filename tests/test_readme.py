"""The README's Python API snippet runs and does what it says."""

import os
import re
import subprocess
import sys

from conftest import ROOT
from lic_jax.assets import QUICKSTART_IMAGES


def _python_api_snippet() -> str:
  readme = open(os.path.join(ROOT, "README.md")).read()
  section = readme.split("## Python API", 1)[1]
  return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_python_api_snippet_runs(tmp_path):
  code = _python_api_snippet()
  image = os.path.join(QUICKSTART_IMAGES, "kodim23_crop256.png")
  for old, new in [('"photo.png"', repr(image)), ("config.num_steps = 300", "config.num_steps = 2"),
                   ('"runs/from-python"', repr(str(tmp_path / "run")))]:
    assert old in code, old
    code = code.replace(old, new)
  code += "\nprint('eval', history['eval']['mean']['bpp'] > 0, codec.name)\n"
  result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True)
  assert result.returncode == 0, result.stderr[-3000:]
  lines = result.stdout.splitlines()
  real = float(lines[0].split()[0])
  estimated = float(lines[1].split()[1])
  # kodim23's crop at quality 1: the file is the estimate plus the header and
  # the streams' ends, under 123 bytes (0.015 bpp) on 256x256 pixels.
  assert 0.05 < real < 0.5 and 0 < real - estimated < 0.015, lines
  assert lines[-1] == "eval True bmshj2018", lines
