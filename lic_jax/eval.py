r"""Evaluates a trained model on a folder of images (e.g. Kodak).

  python -m lic_jax.eval --checkpoint runs/bmshj2018 --data ../shared/data/kodak \
      --output results/kodak/mine.json

Reports, per image and on average, the rate estimated from the likelihoods
of the hard-quantized latents (bpp), PSNR and MS-SSIM on 0..255 RGB. Images
of any size are edge-padded to the model's multiple and cropped back. The
JSON follows CompressAI's results schema ({"name", "description",
"results": {"bpp": [...], "psnr-rgb": [...], "ms-ssim-rgb": [...]}}), one
rate point per file, with the per-image numbers under "images".
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags, logging

from lic_jax import checkpoint as checkpoint_lib
from lic_jax import cli
from lic_jax import image as image_lib
from lic_jax import metrics
from lic_jax.data import data_root
from lic_jax.models import model_from_config
from lic_jax.train_state import init_state, make_optimizer

_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Run directory of lic_jax.train.")
_DATA = flags.DEFINE_string("data", None, "Folder of images (default: ../shared/data/kodak).")
_OUTPUT = flags.DEFINE_string("output", None, "Where to write the results JSON.")
_NAME = flags.DEFINE_string("name", None, "Name in the JSON (default: the model name).")
_MAX_IMAGES = flags.DEFINE_integer("max_images", 0, "Evaluate only the first N images.")


def make_evaluator(model):
  """A jitted function params, image (1, H, W, 3) -> (bits, x_hat) with cropping."""

  @jax.jit
  def run(params, padded):
    out = model.apply({"params": params}, padded, training=False)
    return out["bits"][0], jnp.clip(out["x_hat"], 0.0, 1.0)

  def evaluate(params, img: np.ndarray) -> dict:
    h, w = img.shape[:2]
    padded = image_lib.pad_to_multiple(img[None], model.downsampling)
    bits, x_hat = run(params, jnp.asarray(padded))
    x = jnp.asarray(img[None])
    x_hat = x_hat[:, :h, :w]
    # Quantize the reconstruction to 8 bits, as a decoded image file would be.
    x_hat = jnp.round(x_hat * 255.0) / 255.0
    result = {"bpp": float(bits) / (h * w), "psnr": float(metrics.psnr(x, x_hat)[0])}
    # None where the image is too small for five MS-SSIM scales.
    result["ms_ssim"] = (float(metrics.ms_ssim(x, x_hat)[0])
                         if min(h, w) >= metrics.MS_SSIM_MIN_SIZE else None)
    return result

  return evaluate


def evaluate_directory(model, params, directory: str, max_images: int = 0) -> dict:
  """{'images': {name: metrics}, 'mean': metrics, 'num_images': n}."""
  paths = image_lib.list_images(directory)
  if max_images:
    paths = paths[:max_images]
  if not paths:
    raise FileNotFoundError(f"no images in {directory!r}")
  evaluate = make_evaluator(model)
  per_image = {}
  for path in paths:
    per_image[os.path.basename(path)] = evaluate(params, image_lib.read_image(path))
  mean = {}
  for key in next(iter(per_image.values())):
    values = [r[key] for r in per_image.values() if r[key] is not None]
    mean[key] = float(np.mean(values)) if values else None
  return {"images": per_image, "mean": mean, "num_images": len(per_image)}


def format_metrics(r: dict) -> str:
  ms_ssim = "n/a" if r["ms_ssim"] is None else f"{r['ms_ssim']:.4f}"
  return f"bpp={r['bpp']:.4f} psnr={r['psnr']:.2f}dB ms-ssim={ms_ssim}"


def results_json(name: str, summary: dict, description: str = "") -> dict:
  """CompressAI's results schema for one rate point, plus per-image numbers."""
  mean = summary["mean"]
  results = {"bpp": [mean["bpp"]], "psnr-rgb": [mean["psnr"]],
             "ms-ssim-rgb": [mean["ms_ssim"]]}
  for key in ("encoding_time", "decoding_time"):
    if key in mean:
      results[key] = [mean[key]]
  return {"name": name, "description": description, "results": results,
          "images": summary["images"]}


def load_trained(workdir: str):
  """(model, params, config, step) of the newest checkpoint of a run directory."""
  config = checkpoint_lib.load_config(workdir)
  model = model_from_config(config)
  optimizer = make_optimizer(config)
  abstract = jax.eval_shape(lambda: init_state(model, optimizer, config))
  checkpointer = checkpoint_lib.Checkpointer(workdir)
  state = checkpointer.restore(abstract)
  checkpointer.close()
  return model, state.params, config, int(state.step)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if not _CHECKPOINT.value:
    raise app.UsageError("--checkpoint DIR is required")
  data = _DATA.value or os.path.join(data_root(), "kodak")
  model, params, config, _ = load_trained(_CHECKPOINT.value)
  summary = evaluate_directory(model, params, data, _MAX_IMAGES.value)
  for name, r in summary["images"].items():
    print(f"{name}: {format_metrics(r)}")
  print(f"mean over {summary['num_images']} images: {format_metrics(summary['mean'])}")
  if _OUTPUT.value:
    name = _NAME.value or f"lic_jax-{config.model.name}"
    doc = results_json(name, summary, f"lic_jax eval of {_CHECKPOINT.value} "
                       f"(lambda={config.lmbda}), estimated bpp")
    os.makedirs(os.path.dirname(os.path.abspath(_OUTPUT.value)), exist_ok=True)
    with open(_OUTPUT.value, "w") as f:
      json.dump(doc, f, indent=2)
    logging.info("wrote %s", _OUTPUT.value)


if __name__ == "__main__":
  cli.run(main)
