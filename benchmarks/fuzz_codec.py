r"""Mutation fuzzing of the decoder: thousands of hostile .lic files.

  python benchmarks/fuzz_codec.py [--cases 2000] [--checkpoint DIR]

Encodes a Kodak crop with a model (a small fixed-seed bmshj2018 without
--checkpoint), then feeds --cases mutated copies to the decoder (see
lic_jax.coding.fuzz). Ends with `cases=<n> refused=<n> decoded=<n> crashes=0`;
any other exception propagates with its stack trace.
"""

import argparse
import os
import time

import jax
import numpy as np

from lic_jax import image as image_lib
from lic_jax.assets import QUICKSTART_IMAGES
from lic_jax.codec import Codec
from lic_jax.coding import fuzz
from lic_jax.models import build_model


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--cases", type=int, default=2000)
  parser.add_argument("--checkpoint", default="")
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  if args.checkpoint:
    codec = Codec.load(args.checkpoint)
  else:
    config = {"name": "bmshj2018", "num_filters": 32, "num_latents": 48}
    model = build_model("bmshj2018", num_filters=32, num_latents=48)
    key = jax.random.PRNGKey(0)
    params = model.init({"params": key, "noise": key}, np.zeros((1, 64, 64, 3), np.float32),
                        training=True)["params"]
    codec = Codec.from_params(config, params)
  image = image_lib.read_rgb_uint8(os.path.join(QUICKSTART_IMAGES, "kodim04_crop256.png"))
  image = image[:128, :160]
  valid = codec.compress(image)
  start = time.perf_counter()
  outcomes = fuzz.fuzz(codec.decompress, valid, args.cases, seed=args.seed)
  elapsed = time.perf_counter() - start
  print(f"{args.cases} mutated copies of a {len(valid)}-byte file in {elapsed:.1f} s")
  print(f"cases={args.cases} refused={outcomes['refused']} "
        f"decoded={outcomes['decoded']} crashes=0")


if __name__ == "__main__":
  main()
