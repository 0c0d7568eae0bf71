r"""Encode in one process, decode in another: bit-exactness and actual rates.

  python benchmarks/roundtrip.py --checkpoint DIR [IMAGES...] [--json OUT]
      [--rates 0,1,2,3 --complexities 1,2,3]     # every level of a CBANet

This process compresses the images (default: all of Kodak) in batches of two
same-size images and saves each file with the quantized latents it coded. A
second process, single-threaded (XLA without its thread pool, one BLAS
thread) and at XLA's default optimizations, decodes every file and saves
the latents it decoded. They must be equal. Per image it reports actual
bpp (file size), the bpp estimated from the likelihoods of the
hard-quantized latents, and their difference in bytes beyond the header.
For a CBANet every image is coded at each of --rates and each file decoded
at each of --complexities (the pair counts as one round trip). The last line is

  bit_exact=<n>/<n> max_excess_percent=<%> mean_actual_bpp=<> mean_estimated_bpp=<>
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from lic_jax import cli
from lic_jax import image as image_lib
from lic_jax.codec import Codec
from lic_jax.coding import container
from lic_jax.data import data_root

# The decoding process: single-threaded, and at XLA's default optimizations
# whatever this process's (the test suite compiles without them), so that
# the decoder is compiled differently from the encoder in the tests too.
DECODER_ENV = {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false",
               "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "JAX_DISABLE_MOST_OPTIMIZATIONS": "0"}


def encode_all(checkpoint: str, paths: list[str], out: str, rate: int | None = None) -> dict:
  """Writes <name>.lic and <name>.npz (coded latents); returns rate figures."""
  codec = Codec.load(checkpoint)
  os.makedirs(out, exist_ok=True)
  by_size: dict[tuple, list] = {}
  for path in paths:
    img = image_lib.read_rgb_uint8(path)
    by_size.setdefault(img.shape, []).append((os.path.basename(path), img))
  rates = {}
  for group in by_size.values():
    for start in range(0, len(group), 2):
      chunk = group[start:start + 2]
      batch = np.stack([img for _, img in chunk])
      coded = codec.encode_with_latents(batch, rate)
      for (name, img), (data, latents) in zip(chunk, coded):
        with open(os.path.join(out, name + ".lic"), "wb") as f:
          f.write(data)
        np.savez(os.path.join(out, name + ".npz"), **latents)
        rates[name] = _rates(codec, img, data, latents, rate)
  return rates


def _estimated_bits(codec: Codec, img: np.ndarray, latents: dict, rate: int | None) -> float:
  """The model's rate for the latents that were coded. Models with a context
  model rate them directly (their forward pass only approximates the coded
  contexts); for the others the forward pass quantizes exactly as coded."""
  params = {"params": codec.impl.params}
  level = {} if rate is None else {"rate": rate}
  if hasattr(codec.model, "coded_bits"):
    z_hat = (latents["z"] + codec.impl.hyper.z.medians).astype(np.float32)
    # The latent the model rates: y^ (the context models), or the symbols q
    # (ms2020, whose y^ holds a residual the likelihood does not see).
    coded = latents[getattr(codec.model, "coded_latent", "y_hat")].astype(np.float32)
    return float(codec.model.apply(params, coded[None], z_hat[None],
                                   method=codec.model.coded_bits, **level)[0])
  x = image_lib.pad_to_multiple(img[None].astype(np.float32) / 255, codec.model.downsampling)
  return float(codec.model.apply(params, x, training=False, **level)["bits"][0])


def _rates(codec: Codec, img: np.ndarray, data: bytes, latents: dict, rate: int | None) -> dict:
  h, w = img.shape[:2]
  estimated_bytes = _estimated_bits(codec, img, latents, rate) / 8
  header = len(data) - sum(len(s) for s in container.unpack(data)[1])
  excess = (len(data) - header - estimated_bytes) / estimated_bytes
  return {"actual_bpp": 8 * len(data) / (h * w),
          "estimated_bpp": 8 * estimated_bytes / (h * w),
          "header_bytes": header, "excess_percent": 100 * excess}


def decode_all(checkpoint: str, out: str, complexities: list) -> None:
  """Decodes every .lic of out's folders at every complexity."""
  codec = Codec.load(checkpoint)
  for folder in sorted(os.listdir(out)):
    for name in sorted(os.listdir(os.path.join(out, folder))):
      if not name.endswith(".lic"):
        continue
      with open(os.path.join(out, folder, name), "rb") as f:
        data = f.read()
      for k in complexities:
        _, latents = codec.decode_with_latents(data, k)
        np.savez(os.path.join(out, folder, f"{name[:-4]}.K{k}.decoded.npz"), **latents)


def compare(out: str, names: list[str], complexities: list) -> dict[str, bool]:
  """{name: the latents decoded at every complexity are the coded ones}."""
  exact = {}
  for name in names:
    encoded = np.load(os.path.join(out, f"{name}.npz"))
    exact[name] = True
    for k in complexities:
      decoded = np.load(os.path.join(out, f"{name}.K{k}.decoded.npz"))
      exact[name] &= set(encoded.files) == set(decoded.files) and all(
          np.array_equal(encoded[key], decoded[key]) for key in encoded.files)
  return exact


def _levels(text: str) -> list:
  return [int(v) for v in text.split(",")] if text else [None]


def main():
  parser = argparse.ArgumentParser(description=cli.summary(__doc__))
  parser.add_argument("images", nargs="*")
  parser.add_argument("--checkpoint", required=True)
  parser.add_argument("--json", default="")
  parser.add_argument("--rates", default="", help="bitrate indexes of a CBANet, e.g. 0,1,2,3")
  parser.add_argument("--complexities", default="", help="levels K of a CBANet, e.g. 1,2,3")
  parser.add_argument("--decode-only", default="", help=argparse.SUPPRESS)
  args = parser.parse_args()
  complexities = _levels(args.complexities)
  if args.decode_only:  # the second process
    decode_all(args.checkpoint, args.decode_only, complexities)
    return
  paths = args.images or image_lib.list_images(os.path.join(data_root(), "kodak"))
  with tempfile.TemporaryDirectory() as out:
    rates = {}
    for rate in _levels(args.rates):
      folder = "base" if rate is None else f"rate{rate}"
      rates.update({os.path.join(folder, name): r for name, r in
                    encode_all(args.checkpoint, paths, os.path.join(out, folder), rate).items()})
    subprocess.run([sys.executable, __file__, "--checkpoint", args.checkpoint,
                    "--complexities", args.complexities, "--decode-only", out],
                   check=True, env={**os.environ, **DECODER_ENV})
    exact = compare(out, list(rates), complexities)
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
      json.dump({"checkpoint": args.checkpoint, "rates": args.rates,
                 "complexities": args.complexities, "summary": summary,
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
