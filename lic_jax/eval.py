r"""Evaluates a trained model on a folder of images (e.g. Kodak).

  python -m lic_jax.eval [--checkpoint runs/bmshj2018] [--data ../shared/data/kodak] \
      [--real-bitstream] [--output results/kodak/mine.json] [--rate j --complexity K]

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
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from lic_jax import image as image_lib
from lic_jax import metrics
from lic_jax.data import data_root


def make_evaluator(model, codec=None, rate: int | None = None, complexity: int | None = None):
  """A function (params, uint8 image) -> metrics of one image; a CBANet's
  files are coded at bitrate `rate` and decoded at level K = `complexity`
  (the model's own level is what the estimate uses)."""

  @jax.jit
  def run(params, padded):
    out = model.apply({"params": params}, padded, training=False)
    return out["bits"][0], jnp.clip(out["x_hat"], 0.0, 1.0)

  def evaluate(params, img: np.ndarray) -> dict:
    h, w = img.shape[:2]
    x = img.astype(np.float32)[None] / 255.0
    bits, x_hat = run(params, jnp.asarray(image_lib.pad_to_multiple(x, model.downsampling)))
    result = {"bpp": float(bits) / (h * w)}
    if codec is None:
      recon = np.asarray(x_hat[0, :h, :w])
    else:
      start = time.perf_counter()
      data = codec.compress(img, rate)
      result["encoding_time"] = time.perf_counter() - start
      start = time.perf_counter()
      recon = codec.decompress(data, complexity)
      result["decoding_time"] = time.perf_counter() - start
      result["bpp_estimated"] = result["bpp"]
      result["bpp"] = 8.0 * len(data) / (h * w)
    # Quantize the reconstruction to 8 bits, as a decoded image file would be.
    decoded = jnp.asarray(image_lib.to_uint8(recon)[None], jnp.float32) / 255.0
    result["psnr"] = float(metrics.psnr(x, decoded)[0])
    # None where the image is too small for five MS-SSIM scales.
    result["ms_ssim"] = (float(metrics.ms_ssim(x, decoded)[0])
                         if min(h, w) >= metrics.MS_SSIM_MIN_SIZE else None)
    return result

  return evaluate


def evaluate_directory(model, params, directory: str, max_images: int = 0,
                       codec=None, rate: int | None = None,
                       complexity: int | None = None) -> dict:
  """{'images': {name: metrics}, 'mean': metrics, 'num_images': n}."""
  paths = image_lib.list_images(directory)
  if max_images:
    paths = paths[:max_images]
  if not paths:
    raise FileNotFoundError(f"no images in {directory!r}")
  evaluate = make_evaluator(model, codec, rate, complexity)
  if codec is not None:  # Compile first, so that the timings exclude it.
    codec.decompress(codec.compress(image_lib.read_rgb_uint8(paths[0]), rate), complexity)
  per_image = {os.path.basename(p): evaluate(params, image_lib.read_rgb_uint8(p))
               for p in paths}
  return {"images": per_image, "mean": mean_metrics(list(per_image.values())),
          "num_images": len(per_image)}


def evaluate_codec(codec, directory: str, max_images: int = 0, rate: int | None = None,
                   complexity: int | None = None) -> dict:
  """evaluate_directory with real files: every image compressed by a Codec
  (lic_jax.codec) at bitrate `rate` and decoded at level `complexity`."""
  model = codec.model.clone(**codec.level(rate, complexity))  # the estimate's level
  return evaluate_directory(model, codec.impl.params, directory, max_images, codec=codec,
                            rate=rate, complexity=complexity)


def levels_curve(directory: str, max_images: int = 0) -> dict:
  """The bundled quality levels (lic_jax.codec.quality_levels) on a folder
  of images with real files: a results document (CompressAI's schema)."""
  from lic_jax.codec import Codec, quality_levels  # pylint: disable=g-import-not-at-top

  means = [evaluate_codec(Codec.load(quality=q), directory, max_images)["mean"]
           for q in sorted(quality_levels())]
  return {"name": "bundled bmshj2018-cpu levels",
          "description": f"lic_jax.eval.levels_curve on {directory}, real files",
          "results": {"quality": sorted(quality_levels()), **schema_results(means)}}


def mean_metrics(per_image: list[dict]) -> dict:
  """Each metric averaged over the images that have it (MS-SSIM is None on
  images too small for it; None where no image has it)."""
  mean = {}
  for key in per_image[0]:
    values = [r[key] for r in per_image if r[key] is not None]
    mean[key] = float(np.mean(values)) if values else None
  return mean


# CompressAI's results keys and the metric each holds; the first three are
# always written, the others where every point has them.
_SCHEMA = (("bpp", "bpp"), ("psnr-rgb", "psnr"), ("ms-ssim-rgb", "ms_ssim"),
           ("bpp_estimated", "bpp_estimated"), ("encoding_time", "encoding_time"),
           ("decoding_time", "decoding_time"))


def schema_results(points: list[dict]) -> dict:
  """CompressAI's "results" lists from one mean_metrics dict per rate point."""
  return {key: [p[field] for p in points] for i, (key, field) in enumerate(_SCHEMA)
          if i < 3 or all(field in p for p in points)}


def write_json(path: str, doc: dict) -> None:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w") as f:
    json.dump(doc, f, indent=2)


def format_metrics(r: dict) -> str:
  ms_ssim = "n/a" if r["ms_ssim"] is None else f"{r['ms_ssim']:.4f}"
  line = f"bpp={r['bpp']:.4f} psnr={r['psnr']:.2f}dB ms-ssim={ms_ssim}"
  if "bpp_estimated" in r:
    line += (f" (estimated bpp={r['bpp_estimated']:.4f}; encode {r['encoding_time']:.3f} s,"
             f" decode {r['decoding_time']:.3f} s)")
  return line


def results_json(name: str, summary: dict, description: str = "") -> dict:
  """CompressAI's results schema for one rate point, plus per-image numbers."""
  return {"name": name, "description": description,
          "results": schema_results([summary["mean"]]), "images": summary["images"]}


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(prog="python -m lic_jax.eval",
                                   description=__doc__.split("\n")[0])
  parser.add_argument("--checkpoint", default="",
                      help="run or exported model directory (default: the bundled model)")
  parser.add_argument("--data", default="",
                      help="folder of images (default: $LIC_JAX_DATA/kodak or ../shared/data/kodak)")
  parser.add_argument("--real-bitstream", action="store_true",
                      help="really compress and decompress every image")
  parser.add_argument("--output", default="", help="where to write the results JSON")
  parser.add_argument("--name", default="", help="name in the JSON (default: lic_jax-<model>)")
  parser.add_argument("--max-images", type=int, default=0,
                      help="only the first N images (default: all)")
  parser.add_argument("--rate", type=int,
                      help="bitrate index of a CBANet (default: its base, the highest)")
  parser.add_argument("--complexity", type=int,
                      help="complexity level K of a CBANet (default: all its branches)")
  args = parser.parse_args(argv)

  from lic_jax import cli  # pylint: disable=g-import-not-at-top
  from lic_jax.codec import Codec  # pylint: disable=g-import-not-at-top

  cli.enable_compilation_cache()
  data = args.data or os.path.join(data_root(), "kodak")
  try:
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
  main()
