r"""OHM / INT rate-distortion curves from real bitstreams: one rate-adaptive
model swept over the quality q at inference (the paper's Fig. 3b, Fig. 4).

  python benchmarks/ohm_rd.py --run runs/ohm/mnist-ohm-16-code --name mnist-ohm-16-code
  python benchmarks/ohm_rd.py --run runs/ohm/kodak-ohm-cpu-code --name kodak-ohm-cpu-code
  python benchmarks/ohm_rd.py --plot results/ohm/mnist-*.json --output results/ohm/mnist-rd.png \
      --reference ../shared/reference/ohm/paper-ohm-mnist.json
  python benchmarks/ohm_rd.py --compare results/ohm/kodak-ohm-cpu-code.json \
      results/ohm/kodak-int-cpu.json      # where two curves cross

Every held-out image (the 2k MNIST digits, or all 24 Kodak images) is
compressed once with all C_Z maps and decoded from its file (the decoded
symbols are checked equal to the encoder's). Its file of the first n maps
is that file truncated (lic_jax.ohm.codec), whose size is counted;
on the first --check-images images, for every n, the truncated file is
checked byte-identical to compressing with n maps and its decoded image
identical to the one the curve's PSNR is computed from. Per n (q the
smallest quality that sends n maps, Eq. 5):

  bpp            the range-coded streams of the n maps (the authors' "real
                 bpp": the coded symbols, without a container)
  bpp_file       the whole .lic file (its header: model name, hashes, size,
                 a varint length per map, checksum)
  bpp_estimated  the entropy model's cross-entropy of the same symbols (Eq. 8)
  max_excess     the largest (streams - estimate) / estimate over the images
  max_bits_over_1pct_per_map  the largest (streams - 1.01 estimate) / n: what
                 a stream costs beyond 1% of its estimate, the range coder's
                 termination (at most 2 bytes; a digit's map has 9 symbols)
  psnr           of the 8-bit decoded image, on [0, 255] (MNIST: one channel)

written to <output-dir>/<name>.json; --plot draws curves and references.
"""

import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from lic_jax import cli  # pylint: disable=g-import-not-at-top,wrong-import-position
from lic_jax.ohm.codec import MapCodec  # pylint: disable=g-import-not-at-top,wrong-import-position
from lic_jax.ohm.curves import held_out, map_counts, read_curves, sweep  # pylint: disable=g-import-not-at-top,wrong-import-position


def run_benchmark(args) -> None:
  from lic_jax import checkpoint  # pylint: disable=g-import-not-at-top

  codec = MapCodec.from_checkpoint(args.run)
  config = checkpoint.load_config(args.run)
  images, what = held_out(config)
  if args.max_images:
    images = images[:args.max_images]
  counts = map_counts(codec)
  points, checks = sweep(codec, images, counts, args.check_images)
  model = codec.model_config
  form = f", form '{model.get('ohm_form', 'paper')}'" if model["quantizer"] == "ohm" else ""
  doc = {
      "name": args.name,
      "description": (f"{model['quantizer'].upper()}{form}, C_Z={model['num_maps']}, "
                      f"S={model['num_symbols']}, C_min={model['min_maps']}, lambda in "
                      f"{list(config.lambda_range)}, {config.num_steps} steps ({args.run}); "
                      f"one model swept over q on {what}; bpp from the real range-coded "
                      "streams (bpp_file: the whole .lic file)"),
      "checks": checks,
      "results": {key: [p[key] for p in points]
                  for key in ("q", "maps", "bpp", "bpp_file", "bpp_estimated", "psnr",
                              "max_excess", "max_bits_over_1pct_per_map")},
  }
  if config.data.source != "mnist":
    doc["results"]["psnr-rgb"] = doc["results"].pop("psnr")
  os.makedirs(args.output_dir, exist_ok=True)
  path = os.path.join(args.output_dir, f"{args.name}.json")
  with open(path, "w") as f:
    json.dump(doc, f, indent=2)
  for p in points:
    print(f"q={p['q']:.4f} n={p['maps']:3d} bpp={p['bpp']:.4f} (file {p['bpp_file']:.4f}, "
          f"estimated {p['bpp_estimated']:.4f}, max excess {100 * p['max_excess']:.2f}%, "
          f"max {p['max_bits_over_1pct_per_map']:.1f} bits/map over 1%) "
          f"psnr={p['psnr']:.2f}dB")
  print(json.dumps(checks))
  print(f"wrote {path}")


def plot(paths: list[str], references: list[str], output: str, max_bpp: float | None) -> None:
  fig, ax = plt.subplots(figsize=(7.2, 5.0))
  for path in [*paths, *references]:
    for label, bpp, value, reference in read_curves(path):
      order = np.argsort(bpp)
      if max_bpp:
        order = order[bpp[order] <= max_bpp]
      ax.plot(bpp[order], value[order], marker="o", markersize=3,
              linestyle="--" if reference else "-", label=label)
  ax.set_xlabel("bits per pixel (range-coded streams)")
  ax.set_ylabel("PSNR [dB]")
  ax.grid(True, alpha=0.3)
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(output, dpi=150)
  plt.close(fig)
  print(f"wrote {output}")


def crossings(first: str, second: str) -> list[float]:
  """The rates (bpp) where the curves of two results files cross: the sign
  changes of their PSNR difference, linear in bpp, over their common range."""
  (_, bpp_a, psnr_a, _), (_, bpp_b, psnr_b, _) = read_curves(first)[0], read_curves(second)[0]
  order_a, order_b = np.argsort(bpp_a), np.argsort(bpp_b)
  low, high = max(bpp_a.min(), bpp_b.min()), min(bpp_a.max(), bpp_b.max())
  grid = np.linspace(low, high, 2000)
  gap = (np.interp(grid, bpp_a[order_a], psnr_a[order_a]) -
         np.interp(grid, bpp_b[order_b], psnr_b[order_b]))
  return [float(grid[i]) for i in np.flatnonzero(np.diff(np.sign(gap)) != 0)]


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=cli.summary(__doc__))
  parser.add_argument("--run", help="a run directory of recipe 'ohm'")
  parser.add_argument("--name", help="the curve's name (and its file's)")
  parser.add_argument("--output-dir", default="results/ohm")
  parser.add_argument("--max-images", type=int, default=0, help="0: all")
  parser.add_argument("--check-images", type=int, default=4)
  parser.add_argument("--plot", nargs="*", default=None, help="results files to plot")
  parser.add_argument("--reference", nargs="*", default=[])
  parser.add_argument("--output", help="the plot's path")
  parser.add_argument("--max-bpp", type=float, default=None)
  parser.add_argument("--compare", nargs=2, default=None,
                      help="two results files: print where their curves cross")
  parser.add_argument("--at-bpp", type=float, nargs="*", default=None,
                      help="with --plot: print each curve's PSNR at these rates")
  args = parser.parse_args(argv)
  if args.at_bpp:
    for path in [*args.plot, *args.reference]:
      for label, bpp, value, _ in read_curves(path):
        order = np.argsort(bpp)
        at = [f"{np.interp(b, bpp[order], value[order], np.nan, np.nan):.2f}"
              for b in args.at_bpp]
        print(f"| {label} | {' | '.join(at)} |")
    return
  if args.compare:
    for path in args.compare:
      print(f"{path}: bpp {', '.join(f'{b:.3f}' for b in sorted(read_curves(path)[0][1]))}")
    print(f"curves cross at bpp: {[round(b, 4) for b in crossings(*args.compare)]}")
    return
  if args.plot is not None:
    plot(args.plot, args.reference, args.output, args.max_bpp)
    return
  if not args.run or not args.name:
    parser.error("--run and --name (or --plot)")
  run_benchmark(args)


if __name__ == "__main__":
  sys.exit(main())
