r"""CBANet on Kodak: one RD curve per complexity level K, BD against the
separately trained full-width models, storage and decoding costs.

  python benchmarks/cbanet_kodak.py --run runs/cbanet-hp-cpu/bam2 \
      --baseline results/kodak/lic_jax-bmshj2018-cpu-levels.json \
      --output-dir results/cbanet
  python benchmarks/cbanet_kodak.py --run runs/cbanet-ar-cpu/bam0 --name cbanet-ar-cpu \
      --reference results/kodak/lic_jax-bmshj2018-cpu-levels.json \
      --reference results/cbanet/kodak-cbanet-hp-cpu-K3.json

The run is the last stage of a CBANet training (it holds every branch and
BAM). Every (bitrate j, K) is evaluated on every image (estimated bpp of the
hard-quantized latents, PSNR of the 8-bit decoded image), giving per K a
curve over j in results/cbanet/kodak-<name>-K<k>.json (CompressAI's schema),
then:

- Table II's layout: BD-rate and BD-PSNR of each K against the baseline
  (if one is given: curves of other models are --reference, plotted only),
- Table III's layout (CBANet-HP: decoder parameters) or Table VI's
  (CBANet-AR: whole models): what is stored for n bitrates x K_max
  complexity levels, one CBANet against separately trained models (its
  base model with g_s at 0.47, 0.69 and 1.0 N, one per bitrate and level),
  at this model's widths and at the paper's,
- decoder MACs per pixel and latency per K at Kodak's size, of the
  networks and of decoding a real file (against the full-width model's),
- the RD plot, all in <output-dir>/<name>.json and <name>-rd.png.
"""

import argparse
import os
import sys
import time

import numpy as np

from lic_jax import bd, checkpoint, cli, complexity, plot
from lic_jax import eval as eval_lib
from lic_jax import image as image_lib
from lic_jax.assets import DEFAULT_MODEL
from lic_jax.cbanet.model import CBANetAR
from lic_jax.codec import Codec
from lic_jax.data import data_root
from lic_jax.models import MODELS, abstract_params, model_from_spec

# The base model of each CBANet, and the paper's widths (Sec. IV-A, IV-B).
BASE_MODELS = {"cbanet_hp": "bmshj2018", "cbanet_ar": "mbt2018"}
PAPER_SPECS = {
    "cbanet_hp": {"num_filters": 128, "num_latents": 192, "num_rates": 4, "bam_width": 192},
    "cbanet_ar": {"num_filters": 192, "num_latents": 320, "num_rates": 4, "bam_width": 320}}


def evaluate_levels(model, params, data: str, max_images: int) -> dict[int, list[dict]]:
  """{K: [mean metrics of bitrate j] for j in increasing rate}."""
  curves = {}
  for k in range(1, model.max_branches + 1):
    curves[k] = []
    for j in range(model.num_rates):
      summary = eval_lib.evaluate_directory(model.clone(rate=j, num_branches=k), params,
                                            data, max_images)
      mean = summary["mean"]
      print(f"j={j} K={k}: {eval_lib.format_metrics(mean)}", flush=True)
      curves[k].append(mean)
  return curves


def model_name(model) -> str:
  return next(name for name, cls in MODELS.items() if cls is type(model))


def decoder_parameters_of(spec: dict, **level) -> int:
  """Decoder-side parameters of a model spec (randomly initialized: counts only)."""
  model = model_from_spec(spec)
  return complexity.decoder_parameters(model, abstract_params(model), **level)


def parameters_of(spec: dict, parts: tuple[str, ...] | None = None) -> int:
  """All parameters of a model spec (of the parts, if given)."""
  return complexity.parameter_count(abstract_params(model_from_spec(spec)), parts)


# The g_s widths (of N) of the separately trained model a receiver would
# need per complexity level instead, as costly as CBANet at K = 1, 2, 3
# (Table III: 60, 88 and 128 channels of N = 128).
SEPARATE_WIDTHS = (0.47, 0.69, 1.0)


def separate_widths(model) -> list[int]:
  return [int(model.num_filters * w) for w in SEPARATE_WIDTHS]


def storage_table(model) -> dict:
  """What is stored for num_rates bitrates x K_max levels: Table III's
  decoder parameters for CBANet-HP, Table VI's whole models for CBANet-AR."""
  name = model_name(model)
  spec = {"name": name, "num_filters": model.num_filters, "num_latents": model.num_latents,
          "num_rates": model.num_rates, "bam_width": model.bam_width}
  whole = isinstance(model, CBANetAR)
  if whole:
    bam = parameters_of(spec, ("bams_0",))
    full = parameters_of(spec) - (model.num_rates - 1) * bam
  else:
    full = decoder_parameters_of(spec, rate=model.base_rate, num_branches=model.max_branches)
    bam = decoder_parameters_of(spec, rate=0, num_branches=model.max_branches) - full
  separate = {}
  for k, width in enumerate(separate_widths(model), 1):
    base = {"name": BASE_MODELS[name], "num_filters": model.num_filters,
            "num_latents": model.num_latents, "synthesis_filters": int(width)}
    separate[k] = parameters_of(base) if whole else decoder_parameters_of(base)
  n = model.num_rates
  return {"counted": "whole models" if whole else "decoder parameters",
          "bitrates": n, "levels": model.max_branches,
          "separate_parameters": {str(k): v for k, v in separate.items()},
          "separate_total": n * sum(separate.values()),
          "cbanet_parameters": full, "bam_parameters": bam,
          "cbanet_total": full + (n - 1) * bam}


def file_decode_seconds(codec: Codec, image: np.ndarray, repeats: int = 3, **level) -> float:
  """Median seconds to decode a real file of `image` (after a warm-up)."""
  data = codec.compress(image, **({"rate": level["rate"]} if "rate" in level else {}))
  complexity = level.get("complexity")
  decode = (lambda: codec.decompress(data, complexity)) if complexity else (
      lambda: codec.decompress(data))
  decode()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    decode()
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=cli.summary(__doc__))
  parser.add_argument("--run", required=True, help="the last stage's run directory")
  parser.add_argument("--baseline", default="",
                      help="results JSON of the separately trained full-width models (BD)")
  parser.add_argument("--reference", action="append", default=[],
                      help="results JSON of another model's curve, to plot (repeatable)")
  parser.add_argument("--baseline-model", default=DEFAULT_MODEL,
                      help="a full-width model whose file decoding to time (default: the "
                           "bundled bmshj2018 N=64, of the baseline's levels)")
  parser.add_argument("--data", default="", help="default: the shared Kodak")
  parser.add_argument("--output-dir", default="results/cbanet")
  parser.add_argument("--name", default="cbanet-hp-cpu")
  parser.add_argument("--max-images", type=int, default=0)
  args = parser.parse_args(argv)
  data = args.data or os.path.join(data_root(), "kodak")
  model, params, _, step = checkpoint.load_trained(args.run)
  label = "CBANet-" + type(model).__name__[len("CBANet"):]
  curves = evaluate_levels(model, params, data, args.max_images)
  docs, table = [], []
  for k, points in curves.items():
    doc = {"name": f"{label} K={k}",
           "description": f"{args.run} (step {step}) at K={k}, bitrates j=0..{len(points) - 1}, "
                          "estimated bpp",
           "results": eval_lib.schema_results(points)}
    eval_lib.write_json(os.path.join(args.output_dir, f"kodak-{args.name}-K{k}.json"), doc)
    docs.append(doc)
    if args.baseline:
      anchor = bd.load_curve(args.baseline, "psnr-rgb")
      rate, psnr = np.array(doc["results"]["bpp"]), np.array(doc["results"]["psnr-rgb"])
      table.append({"K": k, "bd_rate": bd.bd_rate(*anchor, rate, psnr),
                    "bd_psnr": bd.bd_quality(*anchor, rate, psnr)})
  if table:
    print(f"\nBD vs {args.baseline} (Table II layout)\n{'K':<4}{'BD-rate':>10}{'BD-PSNR':>10}")
    for row in table:
      print(f"{row['K']:<4}{row['bd_rate']:>9.2f}%{row['bd_psnr']:>8.3f}dB")
  psnr_by_k = np.array([d["results"]["psnr-rgb"] for d in docs])
  increasing = bool(np.all(np.diff(psnr_by_k, axis=0) > 0))
  print(f"PSNR increases with K at every bitrate: {increasing}")

  storage = storage_table(model)
  paper = storage_table(model_from_spec({"name": model_name(model),
                                         **PAPER_SPECS[model_name(model)]}))
  for name, table_of in (("this model", storage), ("paper widths", paper)):
    print(f"\nstorage ({storage['counted']}), {name}, {table_of['bitrates']} bitrates x "
          f"{table_of['levels']} levels: separately trained "
          f"{table_of['separate_total']:,} ({table_of['separate_parameters']} per bitrate), "
          f"CBANet {table_of['cbanet_total']:,} ({table_of['cbanet_parameters']:,} "
          f"+ {table_of['bitrates'] - 1} BAMs of {table_of['bam_parameters']:,})")
  costs = [row for row in complexity.report(model, params, 512, 768)
           if row["rate"] == model.base_rate]
  image = image_lib.read_rgb_uint8(image_lib.list_images(data)[0])
  baseline_s = file_decode_seconds(Codec.load(args.baseline_model), image)
  cbanet = Codec.from_checkpoint(args.run)
  for row in costs:
    row["file_decode_s"] = file_decode_seconds(cbanet, image, rate=model.base_rate,
                                               complexity=row["num_branches"])
    print(f"K={row['num_branches']}: {row['macs_per_pixel']:,.0f} MACs/pixel, "
          f"{row['latency_s'] * 1e3:.1f} ms decoder networks, a real file decoded in "
          f"{row['file_decode_s'] * 1e3:.0f} ms ({row['file_decode_s'] / baseline_s:.2f} x "
          f"{args.baseline_model}'s {baseline_s * 1e3:.0f} ms)")
  others = []
  if args.baseline:
    others.append(plot.load(args.baseline))
    others[-1]["name"] = f"{BASE_MODELS[model_name(model)]} (separate models, full width)"
  others += [plot.load(path) for path in args.reference]
  plot.plot([*others, *docs], os.path.join(args.output_dir, f"{args.name}-rd.png"),
            title=f"Kodak: {args.name} at each complexity level K")
  eval_lib.write_json(os.path.join(args.output_dir, f"{args.name}.json"), {
      "run": args.run, "step": step,
      "baseline": args.baseline, "references": args.reference, "bd": table,
      "psnr_increases_with_k": increasing,
      "storage": storage, "storage_paper_widths": paper, "decoder_costs_512x768": costs,
      "baseline_model": args.baseline_model, "baseline_file_decode_s": baseline_s})
  print(f"wrote {args.output_dir}/{args.name}.json and {args.name}-rd.png")


if __name__ == "__main__":
  sys.exit(main())
