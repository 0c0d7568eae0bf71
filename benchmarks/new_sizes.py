r"""What the first decode of a new image size costs, cold and warm cache.

  python benchmarks/new_sizes.py [--checkpoint DIR] [--json results/new_sizes.json]

Ten image sizes (odd, tall, wide, small, large) are compressed, then each
file is decoded by the CLI in a fresh process three times: with an empty
JAX compilation cache (cold: every program of that size is compiled), again
with the cache it left (warm), and once more. The figure is the CLI's own
`decode <s>` (model loading apart), with the process's wall time beside it.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

from lic_jax import cli
from lic_jax import image as image_lib
from lic_jax.codec import Codec

SIZES = ((97, 131), (200, 300), (256, 256), (333, 517), (480, 640), (512, 768),
         (64, 1000), (1000, 64), (720, 1280), (1024, 1024))


def _decode(path: str, out: str, checkpoint: str, cache: str) -> tuple[float, float]:
  """(the CLI's decode seconds, the process's wall seconds)."""
  command = [sys.executable, "-m", "lic_jax", "codec", "decompress", path, out, "--force"]
  if checkpoint:
    command += ["--checkpoint", checkpoint]
  start = time.perf_counter()
  result = subprocess.run(command, capture_output=True, text=True, check=True,
                          env={**os.environ, "LIC_JAX_CACHE": cache})
  wall = time.perf_counter() - start
  return float(re.search(r"decode ([\d.]+) s", result.stdout).group(1)), wall


def main():
  parser = argparse.ArgumentParser(description=cli.summary(__doc__))
  parser.add_argument("--checkpoint", default="")
  parser.add_argument("--json", default="")
  args = parser.parse_args()
  codec = Codec.load(args.checkpoint or None)
  rng = np.random.default_rng(0)
  rows = []
  with tempfile.TemporaryDirectory() as directory:
    for height, width in SIZES:
      # A smooth random image: upsampled noise, like a photo's content.
      small = rng.random((height // 8 + 2, width // 8 + 2, 3))
      image = np.kron(small, np.ones((8, 8, 1)))[:height, :width]
      path = os.path.join(directory, f"{height}x{width}.lic")
      with open(path, "wb") as f:
        f.write(codec.compress(image_lib.to_uint8(image)))
      cache = os.path.join(directory, f"cache{height}x{width}")
      out = os.path.join(directory, "recon.png")
      timings = [_decode(path, out, args.checkpoint, cache) for _ in range(3)]
      rows.append({"size": [height, width], "cold_decode_s": timings[0][0],
                   "warm_decode_s": timings[1][0], "again_decode_s": timings[2][0],
                   "cold_wall_s": timings[0][1], "warm_wall_s": timings[1][1]})
      print(f"{height}x{width}: decode cold {timings[0][0]:.2f} s, warm {timings[1][0]:.2f} s, "
            f"again {timings[2][0]:.2f} s (process {timings[0][1]:.1f} s / "
            f"{timings[1][1]:.1f} s)", flush=True)
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"model": codec.model_config, "checkpoint": args.checkpoint or None,
                 "sizes": rows}, f, indent=2)
  cold = [r["cold_decode_s"] for r in rows]
  warm = [r["warm_decode_s"] for r in rows]
  print(f"sizes={len(rows)} cold_decode_max_s={max(cold):.2f} "
        f"warm_decode_max_s={max(warm):.2f}")


if __name__ == "__main__":
  main()
