r"""Encode in one process, decode in another: bit-exactness and actual rates.

  python benchmarks/roundtrip.py --checkpoint DIR [IMAGES...] [--json OUT]

This process compresses the images (default: all of Kodak) in batches of two
same-size images and saves each file with the quantized latents it coded. A
second process, single-threaded (XLA without its thread pool, one BLAS
thread), decodes every file and saves the latents it decoded. They must be
equal. Per image it reports actual bpp (file size), the bpp estimated from
the likelihoods of the hard-quantized latents, and their difference in
bytes beyond the header. The last line is

  bit_exact=<n>/<n> max_excess_percent=<%> mean_actual_bpp=<> mean_estimated_bpp=<>
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from lic_jax import image as image_lib
from lic_jax.codec import Codec
from lic_jax.coding import container
from lic_jax.data import data_root

SINGLE_THREADED = {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false",
                   "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                   "MKL_NUM_THREADS": "1"}


def encode_all(checkpoint: str, paths: list[str], out: str) -> dict:
  """Writes <name>.lic and <name>.npz (coded latents); returns rate figures."""
  codec = Codec.load(checkpoint)
  by_size: dict[tuple, list] = {}
  for path in paths:
    img = image_lib.read_rgb_uint8(path)
    by_size.setdefault(img.shape, []).append((os.path.basename(path), img))
  rates = {}
  for group in by_size.values():
    for start in range(0, len(group), 2):
      chunk = group[start:start + 2]
      batch = np.stack([img for _, img in chunk])
      coded = codec.encode_with_latents(batch)
      for (name, img), (data, latents) in zip(chunk, coded):
        with open(os.path.join(out, name + ".lic"), "wb") as f:
          f.write(data)
        np.savez(os.path.join(out, name + ".npz"), **latents)
        rates[name] = _rates(codec, img, data, latents)
  return rates


def _estimated_bits(codec: Codec, img: np.ndarray, latents: dict) -> float:
  """The model's rate for the latents that were coded. Models with a context
  model rate them directly (their forward pass only approximates the coded
  contexts); for the others the forward pass quantizes exactly as coded."""
  params = {"params": codec.impl.params}
  if hasattr(codec.model, "coded_bits"):
    z_hat = (latents["z"] + codec.impl.z_coder.medians).astype(np.float32)
    return float(codec.model.apply(params, latents["y_hat"][None], z_hat[None],
                                   method=codec.model.coded_bits)[0])
  x = image_lib.pad_to_multiple(img[None].astype(np.float32) / 255, codec.model.downsampling)
  return float(codec.model.apply(params, x, training=False)["bits"][0])


def _rates(codec: Codec, img: np.ndarray, data: bytes, latents: dict) -> dict:
  h, w = img.shape[:2]
  estimated_bytes = _estimated_bits(codec, img, latents) / 8
  header = len(data) - sum(len(s) for s in container.unpack(data)[1])
  excess = (len(data) - header - estimated_bytes) / estimated_bytes
  return {"actual_bpp": 8 * len(data) / (h * w),
          "estimated_bpp": 8 * estimated_bytes / (h * w),
          "header_bytes": header, "excess_percent": 100 * excess}


def decode_all(checkpoint: str, out: str) -> None:
  codec = Codec.load(checkpoint)
  for name in sorted(os.listdir(out)):
    if name.endswith(".lic"):
      with open(os.path.join(out, name), "rb") as f:
        _, latents = codec.decode_with_latents(f.read())
      np.savez(os.path.join(out, name[:-4] + ".decoded.npz"), **latents)


def compare(out: str, names: list[str]) -> dict[str, bool]:
  exact = {}
  for name in names:
    encoded = np.load(os.path.join(out, f"{name}.npz"))
    decoded = np.load(os.path.join(out, f"{name}.decoded.npz"))
    exact[name] = set(encoded.files) == set(decoded.files) and all(
        np.array_equal(encoded[k], decoded[k]) for k in encoded.files)
  return exact


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("images", nargs="*")
  parser.add_argument("--checkpoint", required=True)
  parser.add_argument("--json", default="")
  parser.add_argument("--decode-only", default="", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.decode_only:  # the second process
    decode_all(args.checkpoint, args.decode_only)
    return
  paths = args.images or image_lib.list_images(os.path.join(data_root(), "kodak"))
  with tempfile.TemporaryDirectory() as out:
    rates = encode_all(args.checkpoint, paths, out)
    subprocess.run([sys.executable, __file__, "--checkpoint", args.checkpoint,
                    "--decode-only", out], check=True, env={**os.environ, **SINGLE_THREADED})
    exact = compare(out, list(rates))
  for name, r in rates.items():
    print(f"{name}: bit_exact={exact[name]} actual={r['actual_bpp']:.4f} bpp "
          f"estimated={r['estimated_bpp']:.4f} bpp header={r['header_bytes']} B "
          f"excess={r['excess_percent']:+.3f}%")
  summary = {
      "bit_exact": sum(exact.values()), "images": len(exact),
      "max_excess_percent": max(r["excess_percent"] for r in rates.values()),
      "mean_actual_bpp": float(np.mean([r["actual_bpp"] for r in rates.values()])),
      "mean_estimated_bpp": float(np.mean([r["estimated_bpp"] for r in rates.values()])),
  }
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"checkpoint": args.checkpoint, "summary": summary,
                 "per_image": {n: dict(r, bit_exact=exact[n]) for n, r in rates.items()}},
                f, indent=2)
  print(f"bit_exact={summary['bit_exact']}/{summary['images']} "
        f"max_excess_percent={summary['max_excess_percent']:.3f} "
        f"mean_actual_bpp={summary['mean_actual_bpp']:.4f} "
        f"mean_estimated_bpp={summary['mean_estimated_bpp']:.4f}")
  if summary["bit_exact"] != summary["images"]:
    sys.exit(1)


if __name__ == "__main__":
  main()
