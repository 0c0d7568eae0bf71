r"""Rate-distortion plots from CompressAI-schema results files, and training
curves of run directories.

Its command: lic_jax.commands.plot (`python -m lic_jax plot --help`).

Draws quality against bpp, one curve per file (its "name"), with markers at
the measured points; files under a directory named `reference` (such as
../shared/reference/kodak) are dashed and labelled "(ref)". --max-bpp
limits the rate axis (points beyond it are left out). MS-SSIM is drawn in dB, -10 log10(1 - MS-SSIM), as in
the papers. The format follows the output's extension (.png, .svg, .pdf).
"""

import argparse
import json
import os
import sys

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from lic_jax import cli

_LABELS = {"psnr-rgb": "PSNR (RGB) [dB]", "ms-ssim-rgb": "MS-SSIM (RGB) [dB]"}


def load(path: str) -> dict:
  with open(path) as f:
    doc = json.load(f)
  if "results" not in doc or "bpp" not in doc["results"]:
    raise ValueError(f"{path} is not a results file (no results.bpp)")
  doc.setdefault("name", os.path.splitext(os.path.basename(path))[0])
  doc["is_reference"] = "reference" in os.path.normpath(os.path.abspath(path)).split(os.sep)
  return doc


def plot(docs: list[dict], output: str, metrics: tuple[str, ...] = ("psnr-rgb",),
         title: str = "", max_bpp: float | None = None) -> None:
  """One panel per metric, one curve per results document."""
  fig = Figure(figsize=(6.4 * len(metrics), 4.8))
  axes = fig.subplots(1, len(metrics), squeeze=False)
  colors = matplotlib.colormaps["tab20" if len(docs) > 10 else "tab10"].colors
  for ax, metric in zip(axes[0], metrics):
    for i, doc in enumerate(docs):
      results = doc["results"]
      if metric not in results:
        continue
      bpp = np.asarray(results["bpp"], np.float64)
      quality = np.asarray([np.nan if v is None else v for v in results[metric]],
                           np.float64)
      if metric.startswith("ms-ssim"):
        quality = -10.0 * np.log10(1.0 - quality)
      order = np.argsort(bpp)
      if max_bpp is not None:
        order = order[bpp[order] <= max_bpp]
      reference = doc.get("is_reference", False)
      ax.plot(bpp[order], quality[order], marker="o", markersize=3 if len(bpp) > 1 else 7,
              color=colors[i % len(colors)], linestyle="--" if reference else "-",
              label=doc["name"] + (" (ref)" if reference else ""))
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel(_LABELS.get(metric, metric))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    if title:
      ax.set_title(title)
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  fig.savefig(output, dpi=150)


def read_metrics(workdir: str) -> tuple[dict, dict]:
  """({metric: (steps, values)} of training, the same of evaluation) from a
  run's metrics.jsonl; a step logged twice (a resumed run) keeps its last."""
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    raise ValueError(f"{workdir!r} is not a run directory (no metrics.jsonl)")
  train, evals = {}, {}
  with open(path) as f:
    for line in f:
      record = json.loads(line)
      kind, values = (evals, record["eval"]) if "eval" in record else (train, record)
      for key, value in values.items():
        if key != "step" and isinstance(value, (int, float)):
          kind.setdefault(key, {})[record["step"]] = value
  return _as_arrays(train), _as_arrays(evals)


def _as_arrays(series: dict) -> dict:
  """{metric: {step: value}} -> {metric: (steps, values)}, by step."""
  return {k: (np.array(sorted(v)), np.array([v[s] for s in sorted(v)]))
          for k, v in series.items()}


def plot_run(workdir: str, output: str, metrics: tuple[str, ...] = ()) -> None:
  """Training curves (a running mean over ~1% of the steps) with the
  evaluation's values as markers, one panel per metric (default: the loss
  and every metric the evaluation has but its counts)."""
  train, evals = read_metrics(workdir)
  shown = [k for k in evals if k != "loss" and not k.startswith("num_")]
  metrics = metrics or ("loss", *shown)
  fig = Figure(figsize=(5.0 * len(metrics), 4.0))
  axes = fig.subplots(1, len(metrics), squeeze=False)
  for ax, metric in zip(axes[0], metrics):
    if metric in train:
      steps, values = train[metric]
      width = max(1, len(values) // 100)
      smooth = np.convolve(values, np.ones(width) / width, mode="valid")
      ax.plot(steps[width - 1:], smooth, label=f"train {metric}")
    if metric in evals:
      ax.plot(*evals[metric], marker="o", label=f"eval {metric}")
      last_step, last = evals[metric][0][-1], evals[metric][1][-1]
      ax.annotate(f"{last:.4g}", (last_step, last), textcoords="offset points",
                  xytext=(-10, 8), fontsize=8)
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
  fig.suptitle(os.path.basename(os.path.normpath(workdir)))
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  fig.savefig(output, dpi=150)


def run(args: argparse.Namespace) -> None:
  """The command (lic_jax.commands.plot), its arguments parsed."""
  metrics = ("psnr-rgb", "ms-ssim-rgb") if args.metric == "both" else (args.metric,)
  if bool(args.run) == bool(args.results):
    sys.exit("error: give results files or --run, not both or neither")
  try:
    if args.run:
      plot_run(args.run, args.output)
    else:
      plot([load(p) for p in args.results], args.output, metrics, args.title, args.max_bpp)
  except (OSError, ValueError) as e:
    sys.exit(f"error: {e}")
  print(f"wrote {args.output}")


if __name__ == "__main__":
  # The command's arguments and usage are its front's.
  cli.run_as_main("lic_jax.commands.plot")
