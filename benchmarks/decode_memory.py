r"""Peak memory of decoding each .lic file kind, against the decoder's estimate.

  python benchmarks/decode_memory.py [--families bmshj2018,ohm,...] [--json results/decode_memory.json]

Every decoder decides from a file's header, before allocating anything,
whether the decode fits (lic_jax.coding.memory); this measures how good its
estimate (`decode_memory(height, width)`) is. For each family of
benchmarks/families.py and each of three declared sizes (the kinds that
code one image size only: that size), a fresh process builds the decoder,
resets its peak resident set size (/proc/self/clear_refs), decodes a file
declaring that size (streams empty, as a hostile file would be: the
transforms and tables cost the same) and reads the peak (VmHWM): the
bytes the decode took beyond the loaded decoder, its compilation included.
A row is within bounds when estimate >= measured and estimate <= 2 x
measured. The last line is

  rows=<n> within=<n> below=<n> over_2x=<n>

and the exit status is 1 unless every row is within bounds.
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import families  # pylint: disable=wrong-import-position

from lic_jax import cli  # pylint: disable=wrong-import-position

# Declared sizes per family: large enough that what grows with the image
# dominates, small enough to decode in a minute on two cores.
SIZES = {
    **{name: ((1024, 1024), (2048, 2048), (4096, 2048)) for name in families.IMAGE_MODELS},
    "cbanet_hp": ((1024, 1024), (2048, 2048), (4096, 4096)),
    "cbanet_ar": ((512, 512), (1024, 1024), (2048, 2048)),
    "mbt2018": ((512, 512), (1024, 1024), (2048, 2048)),
    "ohm": ((512, 512), (1024, 1024), (2048, 1024)),
    "int": ((512, 512), (1024, 1024), (2048, 1024)),
    "split": ((32, 32),),
    "grouping": ((32, 32),),
}


def _status(field: str) -> int:
  with open("/proc/self/status") as f:
    return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field))


def worker(name: str, height: int, width: int) -> None:
  """Prints 'measured <bytes> estimate <bytes> seconds <s>' for one decode."""
  family = families.build(name)
  data = family.valid if family.declared is None else family.declared(height, width)
  with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets VmHWM to the current resident set
  before = _status("VmRSS")
  start = time.perf_counter()
  family.decode(data)  # its memory check included, as a receiver runs it
  seconds = time.perf_counter() - start
  estimate = family.decode_memory(height, width)  # the check's, cached
  print(f"measured {_status('VmHWM') - before} estimate {estimate} seconds {seconds:.1f}",
        flush=True)


def measure(name: str, height: int, width: int) -> dict:
  out = subprocess.run([sys.executable, __file__, "--worker", name, str(height), str(width)],
                       capture_output=True, text=True, check=False)
  line = next((line for line in out.stdout.splitlines() if line.startswith("measured")), None)
  if line is None:
    raise RuntimeError(f"{name} at {height}x{width} failed: {out.stderr.strip()[-2000:]}")
  fields = line.split()
  measured, estimate, seconds = int(fields[1]), int(fields[3]), float(fields[5])
  return {"family": name, "height": height, "width": width, "measured_bytes": measured,
          "estimate_bytes": estimate, "ratio": estimate / measured, "decode_s": seconds}


def main():
  parser = argparse.ArgumentParser(description=cli.summary(__doc__))
  parser.add_argument("--families", default=",".join(families.FAMILIES))
  parser.add_argument("--json", default="")
  parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    name, height, width = args.worker
    worker(name, int(height), int(width))
    return
  rows = []
  print(f"{'family':<13}{'declared':>12}{'measured MB':>13}{'estimate MB':>13}{'ratio':>7}"
        f"{'decode s':>10}")
  for name in args.families.split(","):
    for height, width in SIZES[name]:
      row = measure(name, height, width)
      rows.append(row)
      print(f"{name:<13}{f'{height}x{width}':>12}{row['measured_bytes'] / 2**20:>13.1f}"
            f"{row['estimate_bytes'] / 2**20:>13.1f}{row['ratio']:>7.2f}"
            f"{row['decode_s']:>10.1f}", flush=True)
  below = sum(r["ratio"] < 1 for r in rows)
  over = sum(r["ratio"] > 2 for r in rows)
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"rows": rows}, f, indent=2)
  print(f"rows={len(rows)} within={len(rows) - below - over} below={below} over_2x={over}")
  if below or over:
    sys.exit(1)


if __name__ == "__main__":
  main()
