r"""What a user waits for at the codec command line: time to the first file,
cold and warm, and a folder in one call.

  python benchmarks/codec_cli.py [--data ../shared/data/kodak] [--json results/codec_cli.json]

Each figure is the wall time of a fresh `python -m lic_jax codec` process:
- `--help`;
- `compress` of one Kodak image, then `decompress` of its file, *cold*
  (empty JAX compilation and numba caches, as after a fresh install) and
  then *warm* (the caches the cold call left), at the default quality and
  at quality 1 and 5;
- `compress` of the whole folder into a folder and `decompress` of that
  folder (warm), with the CLI's own time for the files beside it.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

from lic_jax import cli
from lic_jax import image as image_lib

CLI = [sys.executable, "-m", "lic_jax", "codec"]


def _run(args: list[str], caches: str) -> tuple[float, str]:
  """(wall seconds, stdout) of one CLI process with its caches under `caches`."""
  env = {**os.environ, "LIC_JAX_CACHE": os.path.join(caches, "jax"),
         "NUMBA_CACHE_DIR": os.path.join(caches, "numba")}
  start = time.perf_counter()
  result = subprocess.run(CLI + args, capture_output=True, text=True, env=env)
  wall = time.perf_counter() - start
  if result.returncode != 0:
    raise RuntimeError(f"{' '.join(args)} failed: {result.stderr.strip().splitlines()[-1]}")
  return wall, result.stdout


def main():
  parser = argparse.ArgumentParser(description=cli.summary(__doc__))
  parser.add_argument("--data", default=os.path.join("..", "shared", "data", "kodak"))
  parser.add_argument("--repeats", type=int, default=3, help="warm runs per figure (default 3)")
  parser.add_argument("--json", default="")
  args = parser.parse_args()
  images = image_lib.list_images(args.data)
  first = images[0]
  result = {"image": os.path.basename(first), "folder_images": len(images)}
  with tempfile.TemporaryDirectory() as work:
    caches = os.path.join(work, "caches")
    result["help_s"] = statistics.median(_run(["--help"], caches)[0] for _ in range(args.repeats))
    print(f"--help: {result['help_s']:.2f} s", flush=True)
    for quality in (3, 1, 5):
      lic, png = os.path.join(work, f"q{quality}.lic"), os.path.join(work, f"q{quality}.png")
      compress = ["compress", first, lic, "--quality", str(quality), "--force"]
      decompress = ["decompress", lic, png, "--force"]
      fresh = os.path.join(work, f"fresh{quality}")
      row = {"compress_cold_s": _run(compress, fresh)[0],
             "decompress_cold_s": _run(decompress, fresh)[0]}
      row["compress_warm_s"] = statistics.median(
          _run(compress, fresh)[0] for _ in range(args.repeats))
      row["decompress_warm_s"] = statistics.median(
          _run(decompress, fresh)[0] for _ in range(args.repeats))
      row["bytes"] = os.path.getsize(lic)
      result[f"quality{quality}"] = row
      print(f"quality {quality}: compress cold {row['compress_cold_s']:.2f} s, warm "
            f"{row['compress_warm_s']:.2f} s; decompress cold {row['decompress_cold_s']:.2f} s, "
            f"warm {row['decompress_warm_s']:.2f} s ({row['bytes']} bytes)", flush=True)
    warm = os.path.join(work, "fresh3")
    for command, source, target in (("compress", args.data, "lic"), ("decompress", "lic", "png")):
      source = source if command == "compress" else os.path.join(work, source)
      wall, out = _run([command, source, os.path.join(work, target)], warm)
      files_s = float(re.search(r"files in ([\d.]+) s", out).group(1))
      result[f"folder_{command}"] = {"wall_s": wall, "files_s": files_s}
      print(f"folder {command}: {len(images)} files in {files_s:.2f} s, the command "
            f"{wall:.2f} s", flush=True)
  if args.json:
    with open(args.json, "w") as f:
      json.dump(result, f, indent=2)
  q = result["quality3"]
  print(f"help_s={result['help_s']:.2f} compress_cold_s={q['compress_cold_s']:.2f} "
        f"compress_warm_s={q['compress_warm_s']:.2f} "
        f"folder_compress_s={result['folder_compress']['wall_s']:.2f} "
        f"folder_decompress_s={result['folder_decompress']['wall_s']:.2f}")


if __name__ == "__main__":
  main()
