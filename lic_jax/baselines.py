r"""Classical codecs (Pillow's JPEG and WebP) swept over quality, same metrics.

Its command: lic_jax.commands.baselines (`python -m lic_jax baselines --help`).

Every image is encoded in memory at each quality (default 5, 10, ..., 95),
decoded, and measured with lic_jax.metrics (PSNR and MS-SSIM on 0..255 RGB),
exactly as the learned codecs are; bpp is the size of the encoded file. Per
quality the figures are averaged over the images, and the curve is written
in CompressAI's results schema (with the qualities alongside).
"""

import argparse
import io
import os
import sys
import time

import jax
import numpy as np
from PIL import Image
from tqdm import tqdm

from lic_jax import cli
from lic_jax import eval as eval_lib
from lic_jax import image as image_lib
from lic_jax import metrics
from lic_jax.data import data_root

CODECS = ("jpeg", "webp")
SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}
DEFAULT_QUALITIES = tuple(range(5, 100, 5))


def encode(img: np.ndarray, codec: str, quality: int, subsampling: str = "4:2:0") -> bytes:
  """Pillow's JPEG (with the given chroma subsampling) or lossy WebP."""
  buffer = io.BytesIO()
  if codec == "jpeg":
    Image.fromarray(img).save(buffer, format="JPEG", quality=quality,
                              subsampling=SUBSAMPLING[subsampling])
  elif codec == "webp":
    Image.fromarray(img).save(buffer, format="WEBP", quality=quality)
  else:
    raise ValueError(f"unknown codec {codec!r}; choose one of {CODECS}")
  return buffer.getvalue()


def decode(data: bytes) -> np.ndarray:
  with Image.open(io.BytesIO(data)) as img:
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


@jax.jit
def _psnr_and_ms_ssim(x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
  return metrics.psnr(x, y)[0], metrics.ms_ssim(x, y)[0]


def measure(img: np.ndarray, codec: str, quality: int, subsampling: str = "4:2:0") -> dict:
  """bpp, PSNR, MS-SSIM (None below 176 px) and coding times of one image."""
  start = time.perf_counter()
  data = encode(img, codec, quality, subsampling)
  encoding_time = time.perf_counter() - start
  start = time.perf_counter()
  decoded = decode(data)
  decoding_time = time.perf_counter() - start
  h, w = img.shape[:2]
  x = img[None].astype(np.float32) / 255.0
  y = decoded[None].astype(np.float32) / 255.0
  if min(h, w) >= metrics.MS_SSIM_MIN_SIZE:
    psnr, ms_ssim = (float(v) for v in _psnr_and_ms_ssim(x, y))
  else:
    psnr, ms_ssim = float(metrics.psnr(x, y)[0]), None
  return {"bpp": 8.0 * len(data) / (h * w), "psnr": psnr,
          "ms_ssim": ms_ssim, "encoding_time": encoding_time,
          "decoding_time": decoding_time}


def sweep(paths: list[str], codec: str, qualities=DEFAULT_QUALITIES,
          subsampling: str = "4:2:0", progress: bool = True) -> dict:
  """The curve (CompressAI schema) over `qualities`, averaged over the images."""
  images = [image_lib.read_rgb_uint8(p) for p in paths]
  if not images:
    raise FileNotFoundError("no images to code")
  means = [eval_lib.mean_metrics([measure(img, codec, quality, subsampling)
                                   for img in images])
           for quality in tqdm(qualities, desc=codec, unit="quality", disable=not progress)]
  name = f"JPEG {subsampling} (Pillow)" if codec == "jpeg" else "WebP (Pillow)"
  import PIL  # pylint: disable=g-import-not-at-top
  return {"name": name,
          "description": f"lic_jax.baselines: Pillow {PIL.__version__} {codec}"
                         + (f" subsampling {subsampling}" if codec == "jpeg" else "")
                         + f", {len(images)} images, metrics from lic_jax.metrics",
          "results": {"quality": list(qualities), **eval_lib.schema_results(means)}}


def run(args: argparse.Namespace) -> None:
  """The command (lic_jax.commands.baselines), its arguments parsed."""
  try:
    qualities = (tuple(int(q) for q in args.qualities.split(",")) if args.qualities
                 else DEFAULT_QUALITIES)
    if not all(1 <= q <= 100 for q in qualities):
      raise ValueError(f"qualities must lie in 1..100, got {args.qualities}")
    paths = image_lib.list_images(args.data or os.path.join(data_root(), "kodak"))
    curve = sweep(paths, args.codec, qualities, args.subsampling)
  except (FileNotFoundError, ValueError) as e:
    sys.exit(f"error: {e}")
  eval_lib.write_json(args.output, curve)
  r = curve["results"]
  for q, bpp, psnr in zip(r["quality"], r["bpp"], r["psnr-rgb"]):
    print(f"quality={q}: bpp={bpp:.4f} psnr={psnr:.2f}dB")
  print(f"wrote {args.output}")


if __name__ == "__main__":
  # The command's arguments and usage are its front's.
  cli.run_as_main("lic_jax.commands.baselines")
