r"""Evaluates a trained model on a folder of images (e.g. Kodak).

Its command: lic_jax.commands.eval (`python -m lic_jax eval --help`).

Reports, per image and on average, bpp, PSNR and MS-SSIM on 0..255 RGB.
By default bpp is estimated from the likelihoods of the hard-quantized
latents. With --real-bitstream every image is really compressed to a .lic
byte string and decompressed: bpp is then the actual size (estimated bpp is
reported beside it), quality is that of the decoded image, and encode and
decode times are measured. Images of any size are edge-padded to the model's
multiple and cropped back. The JSON follows CompressAI's results schema
({"name", "description", "results": {"bpp": [...], "psnr-rgb": [...],
"ms-ssim-rgb": [...]}}), one rate point per file, with the per-image numbers
under "images".
"""

import argparse
import os
import sys

from lic_jax import cli
from lic_jax import metrics
from lic_jax.codec import Codec, quality_levels
from lic_jax.data import data_root
from lic_jax.files import check_output_path
# What this module held before lic_jax.evaluation did.
from lic_jax.evaluation import (evaluate_codec, evaluate_directory, format_metrics,  # pylint: disable=unused-import
                                make_evaluator, mean_metrics, results_json, schema_results,
                                write_json)


def levels_curve(directory: str, max_images: int = 0) -> dict:
  """The bundled quality levels (lic_jax.codec.quality_levels) on a folder
  of images with real files: a results document (CompressAI's schema)."""
  means = [evaluate_codec(Codec.load(quality=q), directory, max_images)["mean"]
           for q in sorted(quality_levels())]
  return {"name": "bundled bmshj2018-cpu levels",
          "description": f"lic_jax.eval.levels_curve on {directory}, real files",
          "results": {"quality": sorted(quality_levels()), **schema_results(means)}}


def run(args: argparse.Namespace) -> None:
  """The command (lic_jax.commands.eval), its arguments parsed."""
  cli.enable_compilation_cache()
  data = args.data or os.path.join(data_root(), "kodak")
  try:
    if args.output:  # its folder must exist, as for every command's outputs
      check_output_path(args.output, [])
    codec = Codec.load(args.checkpoint or None)
    level = codec.level(args.rate, args.complexity)
    if args.real_bitstream:
      summary = evaluate_codec(codec, data, args.max_images, args.rate, args.complexity)
    else:
      summary = evaluate_directory(codec.model.clone(**level), codec.impl.params, data,
                                   args.max_images)
  except (FileNotFoundError, ValueError) as e:
    sys.exit(f"error: {e}")
  for name, r in summary["images"].items():
    print(f"{name}: {format_metrics(r)}")
  line = f"mean over {summary['num_images']} images: {format_metrics(summary['mean'])}"
  with_ms_ssim = sum(r["ms_ssim"] is not None for r in summary["images"].values())
  if with_ms_ssim < summary["num_images"]:
    line += (f" (ms-ssim over {with_ms_ssim} of the {summary['num_images']} images: the "
             f"others are under {metrics.MS_SSIM_MIN_SIZE} pixels on a side)")
  print(line)
  if args.output:
    kind = "range-coded bpp" if args.real_bitstream else "estimated bpp"
    source = args.checkpoint or "the bundled model"
    suffix = f"-j{level['rate']}-K{level['num_branches']}" if level else ""
    doc = results_json(args.name or f"lic_jax-{codec.name}{suffix}", summary,
                       f"lic_jax eval of {source} (lambda={codec.metadata.get('lambda')}), "
                       f"{kind}")
    write_json(args.output, doc)
    print(f"wrote {args.output}")


if __name__ == "__main__":
  # The command's arguments and usage are its front's.
  cli.run_as_main("lic_jax.commands.eval")
