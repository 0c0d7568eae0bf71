r"""Bjontegaard deltas between two rate-distortion curves.

Its command: lic_jax.commands.bd (`python -m lic_jax bd --help`).

BD-rate: the average relative difference in rate of TEST against ANCHOR at
equal quality, over the quality range both curves cover (negative = TEST
needs fewer bits). BD-PSNR: the average quality difference at equal rate,
over the common log-rate range (positive = TEST is better).

  method 'cubic' (Bjontegaard, VCEG-M33): a least-squares cubic polynomial
      of log10(rate) in quality (and of quality in log10(rate)), integrated
      exactly over the common interval.
  method 'pchip': piecewise-cubic Hermite interpolation through the points
      (as in the JPEG AI / MPEG common test conditions), integrated exactly.

The inputs are CompressAI-schema JSON files ({"results": {"bpp": [...],
"psnr-rgb": [...], ...}}); MS-SSIM is converted to dB, -10 log10(1 - x),
before fitting. The last line printed is `BD-rate=<percent>% BD-PSNR=<dB>dB`
(`BD-MS-SSIM=<dB>dB` for an MS-SSIM metric).
"""

import argparse
import json
import sys

import numpy as np
from scipy import interpolate

from lic_jax import cli

METHODS = ("cubic", "pchip")


def _integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float, method: str) -> float:
  """Integral over [lo, hi] of the curve y(x) fitted to the points."""
  order = np.argsort(x)
  x, y = x[order], y[order]
  if method == "cubic":
    antiderivative = np.polyint(np.polyfit(x, y, 3))
    return float(np.polyval(antiderivative, hi) - np.polyval(antiderivative, lo))
  if method == "pchip":
    return float(interpolate.PchipInterpolator(x, y).integrate(lo, hi))
  raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")


def _check(rate: np.ndarray, quality: np.ndarray, name: str) -> None:
  if rate.shape != quality.shape or rate.ndim != 1:
    raise ValueError(f"{name}: rates {rate.shape} and qualities {quality.shape} "
                     "must be 1-D of one length")
  if rate.size < 4:
    raise ValueError(f"{name}: a BD computation needs at least 4 points, got {rate.size}")
  if np.any(rate <= 0):
    raise ValueError(f"{name}: rates must be positive")
  if np.unique(quality).size != quality.size or np.unique(rate).size != rate.size:
    raise ValueError(f"{name}: rates and qualities must be distinct")


def _mean_difference(x_anchor, y_anchor, x_test, y_test, method) -> float:
  lo = max(x_anchor.min(), x_test.min())
  hi = min(x_anchor.max(), x_test.max())
  if lo >= hi:
    raise ValueError("the curves do not overlap")
  return (_integral(x_test, y_test, lo, hi, method)
          - _integral(x_anchor, y_anchor, lo, hi, method)) / (hi - lo)


def _curves(anchor_rate, anchor_quality, test_rate, test_quality):
  """The four point arrays as float64, validated."""
  ar, aq, tr, tq = (np.asarray(v, np.float64) for v in
                    (anchor_rate, anchor_quality, test_rate, test_quality))
  _check(ar, aq, "anchor")
  _check(tr, tq, "test")
  return ar, aq, tr, tq


def bd_rate(anchor_rate, anchor_quality, test_rate, test_quality,
            method: str = "cubic") -> float:
  """Average rate difference of test vs anchor at equal quality, in percent."""
  ar, aq, tr, tq = _curves(anchor_rate, anchor_quality, test_rate, test_quality)
  diff = _mean_difference(aq, np.log10(ar), tq, np.log10(tr), method)
  return float((10.0**diff - 1.0) * 100.0)


def bd_quality(anchor_rate, anchor_quality, test_rate, test_quality,
               method: str = "cubic") -> float:
  """Average quality difference of test vs anchor at equal rate (BD-PSNR)."""
  ar, aq, tr, tq = _curves(anchor_rate, anchor_quality, test_rate, test_quality)
  return _mean_difference(np.log10(ar), aq, np.log10(tr), tq, method)


def load_curve(path: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
  """(bpp, quality) of a CompressAI-schema results file; MS-SSIM in dB."""
  with open(path) as f:
    results = json.load(f)["results"]
  if metric not in results:
    raise ValueError(f"{path} has no {metric!r} results (it has {sorted(results)})")
  rate = np.asarray(results["bpp"], np.float64)
  quality = np.asarray(results[metric], np.float64)
  if metric.startswith("ms-ssim"):
    quality = -10.0 * np.log10(1.0 - quality)
  return rate, quality


def run(args: argparse.Namespace) -> None:
  """The command (lic_jax.commands.bd), its arguments parsed."""
  try:
    anchor = load_curve(args.anchor, args.metric)
    test = load_curve(args.test, args.metric)
    rate = bd_rate(*anchor, *test, method=args.method)
    quality = bd_quality(*anchor, *test, method=args.method)
  except (OSError, ValueError, KeyError) as e:
    sys.exit(f"error: {e}")
  print(f"{args.test} vs {args.anchor} ({args.metric}, {args.method}):")
  label = "BD-MS-SSIM" if args.metric.startswith("ms-ssim") else "BD-PSNR"
  print(f"BD-rate={rate:.2f}% {label}={quality:.3f}dB")


if __name__ == "__main__":
  # The command's arguments and usage are its front's.
  cli.run_as_main("lic_jax.commands.bd")
