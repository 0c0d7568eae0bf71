"""BD-rate / BD-PSNR: known answers and an independent numerical integration."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from scipy import integrate

from conftest import ROOT
from lic_jax import bd

RATE = np.array([0.12, 0.25, 0.48, 0.81, 1.3])
PSNR = np.array([27.1, 29.4, 31.9, 34.2, 36.6])


@pytest.mark.parametrize("method", bd.METHODS)
def test_known_answers(method):
  assert bd.bd_rate(RATE, PSNR, RATE, PSNR, method) == pytest.approx(0.0, abs=1e-9)
  assert bd.bd_quality(RATE, PSNR, RATE, PSNR, method) == pytest.approx(0.0, abs=1e-9)
  assert bd.bd_rate(RATE, PSNR, 0.9 * RATE, PSNR, method) == pytest.approx(-10.0, abs=1e-9)
  assert bd.bd_quality(RATE, PSNR, RATE, PSNR + 0.5, method) == pytest.approx(0.5, abs=1e-9)
  # Scaling rates by 0.9 is the same as gaining quality at equal rate.
  assert bd.bd_quality(RATE, PSNR, 0.9 * RATE, PSNR, method) > 0


def _reference_bd_rate(ar, aq, tr, tq, method):
  """Independent: dense sampling of the fitted curves and the trapezoid rule."""
  lo, hi = max(aq.min(), tq.min()), min(aq.max(), tq.max())
  grid = np.linspace(lo, hi, 200_001)
  if method == "cubic":
    fa = np.polyval(np.polyfit(aq, np.log10(ar), 3), grid)
    ft = np.polyval(np.polyfit(tq, np.log10(tr), 3), grid)
  else:
    from scipy.interpolate import PchipInterpolator  # pylint: disable=g-import-not-at-top
    fa = PchipInterpolator(np.sort(aq), np.log10(ar)[np.argsort(aq)])(grid)
    ft = PchipInterpolator(np.sort(tq), np.log10(tr)[np.argsort(tq)])(grid)
  return (10 ** (integrate.trapezoid(ft - fa, grid) / (hi - lo)) - 1) * 100


@pytest.mark.parametrize("method", bd.METHODS)
def test_agrees_with_numerical_integration_on_real_curves(reference_dir, method):
  jpeg = bd.load_curve(os.path.join(reference_dir, "jpeg.json"), "psnr-rgb")
  hyperprior = bd.load_curve(os.path.join(reference_dir, "paper-bmshj2018-hyperprior.json"),
                             "psnr-rgb")
  ours = bd.bd_rate(*jpeg, *hyperprior, method=method)
  assert ours == pytest.approx(_reference_bd_rate(*jpeg, *hyperprior, method), abs=1e-3)
  assert ours < -20  # the hyperprior needs far fewer bits than JPEG


def test_bad_curves_are_refused():
  with pytest.raises(ValueError, match="at least 4 points"):
    bd.bd_rate(RATE[:3], PSNR[:3], RATE, PSNR)
  with pytest.raises(ValueError, match="do not overlap"):
    bd.bd_rate(RATE, PSNR, RATE, PSNR + 20)
  with pytest.raises(ValueError, match="unknown method"):
    bd.bd_rate(RATE, PSNR, RATE, PSNR, method="linear")


def test_cli_last_line(tmp_path):
  def write(name, rate, psnr, ms_ssim=()):
    path = tmp_path / name
    path.write_text(json.dumps({"name": name, "results": {
        "bpp": list(rate), "psnr-rgb": list(psnr), "ms-ssim-rgb": list(ms_ssim)}}))
    return str(path)

  anchor = write("a.json", RATE, PSNR)
  test = write("t.json", 0.9 * RATE, PSNR)
  out = subprocess.run([sys.executable, "-m", "lic_jax", "bd", anchor, test], cwd=ROOT,
                       capture_output=True, text=True, check=True).stdout
  last = out.strip().splitlines()[-1]
  expected = bd.bd_quality(RATE, PSNR, 0.9 * RATE, PSNR)
  assert re.fullmatch(r"BD-rate=(-?[0-9.]+)% BD-PSNR=(-?[0-9.]+)dB", last), last
  assert last == f"BD-rate=-10.00% BD-PSNR={expected:.3f}dB"
  # An MS-SSIM difference (in dB) is not called a PSNR difference.
  ms_ssim = 1 - 10 ** (-PSNR / 30)
  anchor, test = write("a.json", RATE, PSNR, ms_ssim), write("t.json", 0.9 * RATE, PSNR, ms_ssim)
  out = subprocess.run([sys.executable, "-m", "lic_jax", "bd", anchor, test, "--metric",
                        "ms-ssim-rgb"], cwd=ROOT, capture_output=True, text=True, check=True)
  assert re.fullmatch(r"BD-rate=-10\.00% BD-MS-SSIM=(-?[0-9.]+)dB",
                      out.stdout.strip().splitlines()[-1])
