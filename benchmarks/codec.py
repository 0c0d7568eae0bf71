r"""Compress/decompress wall time per image, ours against CompressAI's.

  python benchmarks/codec.py --model bmshj2018 ../shared/data/kodak/kodim0{1,2,3}.png \
      [--checkpoint DIR] [--repeats 5] [--json results/codec_bmshj2018.json]

Without --checkpoint the model is a fixed-seed, untrained one at the widths
of DEFAULT_WIDTHS (N=128, M=192 for bmshj2018; N=M=192 for mbt2018): its
rates mean nothing, its speed is what a trained one runs at. Each image
is compressed and decompressed once to compile (that time is reported apart;
JAX's persistent compilation cache makes it small in a second process), then
--repeats more times; the figures are medians over all images and repeats.
Where compressai is importable, its model of the same kind and widths
(ScaleHyperprior(128, 192), JointAutoregressiveHierarchicalPriors(192, 192),
...; untrained, `update()`d) codes the same images in the same run. The last line is

  model=<name> encode_s=<s> decode_s=<s> [compressai_encode_s=<s>
      compressai_decode_s=<s> encode_ratio=<ours/theirs> decode_ratio=<...>]
"""

import argparse
import json
import os
import statistics
import sys
import time

import jax
import numpy as np

from lic_jax import cli
from lic_jax import image as image_lib
from lic_jax.codec import Codec

DEFAULT_WIDTHS = {"bls2017": (128, 128), "bmshj2018": (128, 192),
                  "mbt2018_mean": (192, 192), "mbt2018": (192, 192)}


def _timed(fn, *args):
  start = time.perf_counter()
  out = fn(*args)
  return out, time.perf_counter() - start


def time_ours(codec: Codec, images: list[np.ndarray], repeats: int) -> dict:
  first_encode, first_decode, encode, decode, bpp = [], [], [], [], []
  for img in images:
    data, t = _timed(codec.compress, img)
    first_encode.append(t)
    recon, t = _timed(codec.decompress, data)
    first_decode.append(t)
    assert recon.shape == img.shape[:2] + (3,)
    bpp.append(8 * len(data) / (img.shape[0] * img.shape[1]))
    for _ in range(repeats):
      encode.append(_timed(codec.compress, img)[1])
      decode.append(_timed(codec.decompress, data)[1])
  return {"encode_s": statistics.median(encode), "decode_s": statistics.median(decode),
          "first_encode_s": max(first_encode), "first_decode_s": max(first_decode),
          "bpp": float(np.mean(bpp))}


def time_compressai(model: str, images: list[np.ndarray], repeats: int) -> dict | None:
  try:
    import torch  # pylint: disable=g-import-not-at-top
    from compressai import models as cai  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  torch.manual_seed(0)
  n, m = DEFAULT_WIDTHS[model]
  net = {"bls2017": lambda: cai.FactorizedPrior(n, m),
         "bmshj2018": lambda: cai.ScaleHyperprior(n, m),
         "mbt2018_mean": lambda: cai.MeanScaleHyperprior(n, m),
         "mbt2018": lambda: cai.JointAutoregressiveHierarchicalPriors(n, m)}[model]().eval()
  net.update(force=True)
  encode, decode = [], []
  with torch.no_grad():
    for img in images:
      x = torch.from_numpy(image_lib.pad_to_multiple(img, 64).copy()).permute(2, 0, 1)[None]
      x = x.float() / 255
      out = net.compress(x)
      net.decompress(out["strings"], out["shape"])
      for _ in range(repeats):
        out, t = _timed(net.compress, x)
        encode.append(t)
        decode.append(_timed(net.decompress, out["strings"], out["shape"])[1])
  return {"encode_s": statistics.median(encode), "decode_s": statistics.median(decode)}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("images", nargs="+")
  parser.add_argument("--model", default="bmshj2018", choices=sorted(DEFAULT_WIDTHS))
  parser.add_argument("--checkpoint", default="")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--json", default="")
  args = parser.parse_args()

  cli.enable_compilation_cache()
  if args.checkpoint:
    codec = Codec.load(args.checkpoint)
    if codec.name != args.model:
      sys.exit(f"error: --checkpoint holds {codec.name!r}, not {args.model!r}")
  else:
    n, m = DEFAULT_WIDTHS[args.model]
    config = {"name": args.model, "num_filters": n, "num_latents": m}
    codec = Codec.from_params(config, _init_params(config))
  images = [image_lib.read_rgb_uint8(p) for p in args.images]
  ours = time_ours(codec, images, args.repeats)
  print(f"lic_jax {codec.name} {codec.model_config}: median encode {ours['encode_s']:.3f} s, "
        f"decode {ours['decode_s']:.3f} s per image over {len(images)} images x "
        f"{args.repeats} (first call incl. compile: encode {ours['first_encode_s']:.2f} s, "
        f"decode {ours['first_decode_s']:.2f} s), {ours['bpp']:.4f} bpp")
  record = {"model": codec.model_config, "checkpoint": args.checkpoint or None,
            "images": [os.path.basename(p) for p in args.images], "repeats": args.repeats,
            "cpu_count": os.cpu_count(), "jax": jax.__version__, "lic_jax": ours}
  line = f"model={args.model} encode_s={ours['encode_s']:.3f} decode_s={ours['decode_s']:.3f}"
  theirs = time_compressai(args.model, images, args.repeats)
  if theirs is None:
    print("compressai is not importable: no comparison")
  else:
    print(f"compressai: median encode {theirs['encode_s']:.3f} s, "
          f"decode {theirs['decode_s']:.3f} s per image")
    record["compressai"] = theirs
    line += (f" compressai_encode_s={theirs['encode_s']:.3f}"
             f" compressai_decode_s={theirs['decode_s']:.3f}"
             f" encode_ratio={ours['encode_s'] / theirs['encode_s']:.3f}"
             f" decode_ratio={ours['decode_s'] / theirs['decode_s']:.3f}")
  if args.json:
    with open(args.json, "w") as f:
      json.dump(record, f, indent=2)
  print(line)


def _init_params(config: dict):
  from lic_jax.models import model_from_spec  # pylint: disable=g-import-not-at-top

  model = model_from_spec(config)
  key = jax.random.PRNGKey(0)
  return model.init({"params": key, "noise": key}, np.zeros((1, 64, 64, 3), np.float32),
                    training=True)["params"]


if __name__ == "__main__":
  main()
