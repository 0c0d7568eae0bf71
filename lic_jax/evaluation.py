"""Measuring a model on a folder of images: its estimated rate, or, given a
codec, its real files; and CompressAI's results schema for the numbers.

What `python -m lic_jax eval`, the recipes' periodic evaluation, the sweeps
and the benchmarks share. A codec is passed in, never imported: the
recipes that evaluate sit below the Codec API (lic_jax.architecture).
"""

import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from lic_jax import image as image_lib
from lic_jax import metrics


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
