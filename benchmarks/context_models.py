r"""Rate at equal budget of the context models, on Kodak with real files.

  python benchmarks/context_models.py [--models mbt2018_mean,mbt2018,he2021,ms2020]
      [--lambdas 0.0035,0.0067,0.013,0.025] [--output results/context_models]
      [--reuse MODEL,...]

Every model is trained at every lambda with configs/prior_comparison_cpu.py:
MODEL,LAMBDA (N=32, M=48, 1,500 steps of 8 128x128 crops, Adam 1e-3 then
1e-4: the same seed, data and schedule for every model; a finished run is
not retrained), then evaluated on all 24 Kodak images with real .lic files
(the evaluation is kept in the run and reused while its tables are the
same). Writes into --output one CompressAI-schema curve per model
(MODEL.json, with its lambdas), comparison.json and rd.png (PSNR and
MS-SSIM). --reuse reads the named models' curves and bits from --output
(as an earlier run of this script wrote them) instead of training them
again: a clean clone has no run directories. comparison.json holds, for every model against every other, the
rate and PSNR differences at each lambda, and the BD-rates in PSNR (cubic
and pchip) where both curves are RD curves (PSNR rising with the rate at
every point) whose PSNR ranges overlap by MIN_OVERLAP_DB: a short training
can leave a curve folded or almost flat, and a BD figure fitted to it is
noise (over a few tenths of a dB, a hundredth of a dB is percents of
rate). comparison.json also splits each model's bits per pixel (its
likelihoods on Kodak) into y at the checkerboard's anchor positions, y
elsewhere, and z: where a context gains or loses. Each pair prints

  <test> vs <anchor>: at lambda <l>: <+x%> bpp, <+y> dB; ...
  <test> vs <anchor>: BD-rate=<%> (pchip <%>) BD-PSNR=<dB>   (or: no BD: why)
"""

import argparse
import itertools
import json
import os
import sys

import numpy as np

from lic_jax import bd, cli, plot, sweep
from lic_jax import image as image_lib
from lic_jax.codec import Codec
from lic_jax.coding.latent_codecs import checkerboard_anchors
from lic_jax.data import data_root
from lic_jax.train import load_config, train_unless_finished

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "prior_comparison_cpu.py")
MIN_OVERLAP_DB = 1.0


def bits_by_colour(codec: Codec, kodak: str) -> dict:
  """Bits per image pixel of the model's likelihoods over the Kodak images:
  y at the checkerboard's anchors ((i + j) even), y elsewhere, z."""
  bits = {"y_anchors": 0.0, "y_non_anchors": 0.0, "z": 0.0}
  pixels = 0
  for path in image_lib.list_images(kodak):
    image = image_lib.read_rgb_uint8(path)
    x = image_lib.pad_to_multiple(image, codec.model.downsampling)[None] / np.float32(255)
    likelihoods = codec.model.apply({"params": codec.impl.params}, x)["likelihoods"]
    y_bits = -np.log2(np.asarray(likelihoods["y"], np.float64))[0].sum(-1)
    anchors = checkerboard_anchors(*y_bits.shape)
    bits["y_anchors"] += y_bits[anchors].sum()
    bits["y_non_anchors"] += y_bits[~anchors].sum()
    bits["z"] += -np.log2(np.asarray(likelihoods["z"], np.float64)).sum()
    pixels += image.shape[0] * image.shape[1]
  return {key: value / pixels for key, value in bits.items()}


def model_curve(model: str, lambdas: list[str], kodak: str) -> tuple[dict, dict]:
  """The model's curve (each lambda trained unless finished, then evaluated)
  and its bits by colour at each lambda."""
  points, colours = [], {}
  for lmbda in lambdas:
    config = load_config(f"{CONFIG}:{model},{lmbda}")
    workdir = train_unless_finished(config, f"training {model} at lambda={lmbda}")
    codec = Codec.from_checkpoint(workdir)
    summary = sweep.evaluate_cached(codec, os.path.join(workdir, sweep.EVAL_FILE), kodak)
    colours[lmbda] = bits_by_colour(codec, kodak)
    print(f"{model} lambda={lmbda}: bpp={summary['mean']['bpp']:.4f} "
          f"psnr={summary['mean']['psnr']:.2f}dB", flush=True)
    points.append((float(lmbda), summary))
  description = (f"{model} at N=32, M=48, configs/prior_comparison_cpu.py (1,500 steps of "
                 f"8x128^2 crops per lambda); real range-coded bpp on {kodak}")
  return sweep.curve(model, description, points), colours


def _by_lambda(curve: dict) -> dict[float, tuple[float, float]]:
  results = curve["results"]
  return {lmbda: (bpp, psnr) for lmbda, bpp, psnr in
          zip(results["lambda"], results["bpp"], results["psnr-rgb"])}


def is_rd_curve(curve: dict) -> bool:
  """Does PSNR rise with the rate at every point?"""
  points = sorted(_by_lambda(curve).values())
  return all(q1 < q2 for (_, q1), (_, q2) in zip(points, points[1:]))


def compare(anchor: dict, test: dict) -> dict:
  """test against anchor: the differences at each lambda, and the BD
  figures where both are RD curves; printed as well."""
  a, t = _by_lambda(anchor), _by_lambda(test)
  at_lambda = {lmbda: {"bpp_percent": 100 * (t[lmbda][0] / a[lmbda][0] - 1),
                       "psnr_db": t[lmbda][1] - a[lmbda][1]} for lmbda in a if lmbda in t}
  row = {"anchor": anchor["name"], "test": test["name"], "at_lambda": at_lambda}
  label = f"{test['name']} vs {anchor['name']}"
  print(f"{label}: " + "; ".join(f"at lambda {lmbda:g}: {d['bpp_percent']:+.1f}% bpp, "
                                  f"{d['psnr_db']:+.2f} dB" for lmbda, d in at_lambda.items()))
  folded = [c["name"] for c in (anchor, test) if not is_rd_curve(c)]
  overlap = (min(max(q for _, q in a.values()), max(q for _, q in t.values()))
             - max(min(q for _, q in a.values()), min(q for _, q in t.values())))
  row["psnr_overlap_db"] = overlap
  if folded or overlap < MIN_OVERLAP_DB:
    row["bd"] = None
    why = (f"PSNR does not rise with the rate on {', '.join(folded)}" if folded else
           f"the PSNR ranges overlap by {overlap:.2f} dB, under {MIN_OVERLAP_DB} dB")
    print(f"{label}: no BD: {why}")
    return row
  curves = [(c["results"]["bpp"], c["results"]["psnr-rgb"]) for c in (anchor, test)]
  row["bd"] = {**{f"bd_rate_{method}": bd.bd_rate(*curves[0], *curves[1], method=method)
                  for method in bd.METHODS},
               "bd_psnr": bd.bd_quality(*curves[0], *curves[1])}
  print(f"{label}: BD-rate={row['bd']['bd_rate_cubic']:.2f}% "
        f"(pchip {row['bd']['bd_rate_pchip']:.2f}%) BD-PSNR={row['bd']['bd_psnr']:.3f}dB")
  return row


def main():
  parser = argparse.ArgumentParser(description=cli.summary(__doc__))
  parser.add_argument("--models", default="mbt2018_mean,mbt2018,he2021,ms2020")
  parser.add_argument("--lambdas", default="0.0035,0.0067,0.013,0.025")
  parser.add_argument("--output", default=os.path.join(ROOT, "results", "context_models"))
  parser.add_argument("--reuse", default="",
                      help="models whose curves and bits are read from --output, not trained")
  args = parser.parse_args()

  cli.enable_compilation_cache()
  kodak = os.path.join(data_root(), "kodak")
  if not os.path.isdir(kodak):
    sys.exit(f"error: no Kodak images at {kodak} (set LIC_JAX_DATA)")
  os.makedirs(args.output, exist_ok=True)
  curves, colours = {}, {}
  reused = [model for model in args.reuse.split(",") if model]
  if reused:
    with open(os.path.join(args.output, "comparison.json")) as f:
      earlier_colours = json.load(f)["bits_by_colour"]
  for model in args.models.split(","):
    if model in reused:
      with open(os.path.join(args.output, f"{model}.json")) as f:
        curves[model], colours[model] = json.load(f), earlier_colours[model]
      continue
    curves[model], colours[model] = model_curve(model, args.lambdas.split(","), kodak)
    with open(os.path.join(args.output, f"{model}.json"), "w") as f:
      json.dump(curves[model], f, indent=2)
  rows = [compare(curves[anchor], curves[test])
          for anchor, test in itertools.permutations(curves, 2)]
  with open(os.path.join(args.output, "comparison.json"), "w") as f:
    json.dump({"lambdas": [float(x) for x in args.lambdas.split(",")], "pairs": rows,
               "bits_by_colour": colours}, f, indent=2)
  plot.plot(list(curves.values()), os.path.join(args.output, "rd.png"),
            metrics=("psnr-rgb", "ms-ssim-rgb"),
            title="Kodak, equal budget (N=32, M=48, 1,500 steps per lambda)")


if __name__ == "__main__":
  main()
