r"""Fuzzing the decoder: thousands of hostile .lic files, each under a time
and memory limit.

  python benchmarks/fuzz_codec.py [--cases 10000] [--memory-gb 6] [--timeout 120]
      [--models bls2017,bmshj2018,mbt2018_mean,mbt2018,cbanet_hp,cbanet_ar] [--json results/fuzz_codec.json]

For each model (fixed-seed, untrained, N=32, M=48) a crop of kodim04 is
compressed, the model exported, and cases/len(models) attacks of every kind
in lic_jax.coding.fuzz (byte mutations, payload bytes, cut, swapped,
duplicated and synthetic streams, declared sizes up to beyond the format,
foreign latent tables, moved stream boundaries, tiny files declaring large
images, foreign bitrate fields) are decoded by a worker process with its address space limited to
--memory-gb (RLIMIT_AS). The parent watches every case: one that does not
finish within --timeout seconds is a hang, a worker killed by a signal is an
abort (std::bad_alloc is SIGABRT), an exception other than BitstreamError a
crash, a decoded file with a foreign table or an image of another size a
bug. After any of these the worker restarts at the next case. The last line
is

  cases=<n> refused=<n> decoded=<n> hangs=<n> aborts=<n> crashes=<n> bugs=<n>
      largest_decoded_pixels=<n>

and the exit status is 1 unless the last four are 0.
"""

import argparse
import json
import os
import resource
import selectors
import subprocess
import sys
import tempfile
import time

MODELS = ("bls2017", "bmshj2018", "mbt2018_mean", "mbt2018", "cbanet_hp", "cbanet_ar")
# The bitrate each model's valid file is coded at (CBANet: a BAM's, the lowest).
RATES = {"cbanet_hp": 0, "cbanet_ar": 0}
WIDTHS = {"num_filters": 32, "num_latents": 48}


def _valid_file(name: str, directory: str) -> str:
  """Compresses the crop with a fixed-seed model exported to directory/name;
  returns the .lic path (the workers load the export: no TensorFlow)."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  from lic_jax import image as image_lib  # pylint: disable=g-import-not-at-top
  from lic_jax.assets import QUICKSTART_IMAGES  # pylint: disable=g-import-not-at-top
  from lic_jax.codec import Codec  # pylint: disable=g-import-not-at-top
  from lic_jax.models import build_model  # pylint: disable=g-import-not-at-top

  model = build_model(name, **WIDTHS)
  key = jax.random.PRNGKey(0)
  params = model.init({"params": key, "noise": key}, np.zeros((1, 64, 64, 3), np.float32),
                      training=True)["params"]
  codec = Codec.from_params({"name": name, **WIDTHS}, params)
  codec.export(os.path.join(directory, name))
  image = image_lib.read_rgb_uint8(os.path.join(QUICKSTART_IMAGES, "kodim04_crop256.png"))
  path = os.path.join(directory, f"{name}.lic")
  with open(path, "wb") as f:
    f.write(codec.compress(image[:128, :160], RATES.get(name)))
  return path


def worker(model_dir: str, valid_path: str, seed: int, first: int, last: int,
           memory_gb: float) -> None:
  """Decodes cases first..last-1, one line per case on stdout, in at most
  memory_gb of address space."""
  limit = int(memory_gb * 2**30)
  resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
  from lic_jax.codec import Codec  # pylint: disable=g-import-not-at-top
  from lic_jax.coding import container, fuzz  # pylint: disable=g-import-not-at-top

  codec = Codec.load(model_dir)
  with open(valid_path, "rb") as f:
    valid = f.read()
  print("ready", flush=True)
  for index in range(first, last):
    kind, data = fuzz.case(valid, seed, index, codec.latent_shapes)
    print(f"start {index} {kind}", flush=True)
    try:
      outcome = fuzz.check(codec.decompress, kind, data, valid)
      if outcome == "decoded":
        header, _ = container.unpack(data)
        outcome += f" {header.height * header.width}"
    except AssertionError as e:
      outcome = f"bug {e}"
    except Exception as e:  # pylint: disable=broad-except
      outcome = f"crash {type(e).__name__}: {e}"
    print(f"done {index} {outcome}", flush=True)


def run_model(name: str, valid: str, model_dir: str, args, counts: dict, kinds: dict,
              problems: list) -> None:
  """Runs the model's cases through workers, restarting after a failure;
  adds to counts, to kinds ('<kind>/<outcome>') and to problems."""
  first, last = 0, args.cases // len(args.models.split(","))
  startup_timeout = 300
  while first < last:
    command = [sys.executable, __file__, "--worker", model_dir, valid, str(args.seed),
               str(first), str(last), str(args.memory_gb)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    current, kind, timeout = None, None, startup_timeout
    while True:
      if not selector.select(timeout):
        proc.kill()
        proc.wait()
        problems.append(f"{name} case {current} ({kind}): hang (> {timeout} s)")
        counts["hangs"] += 1
        break
      line = proc.stdout.readline()
      if not line:  # the worker died
        status = proc.wait()
        if current is None and status == 0:
          return
        problems.append(f"{name} case {current} ({kind}): worker died with status {status}")
        counts["aborts"] += 1
        break
      if not line.strip():
        continue
      word, *rest = line.split(maxsplit=2)
      if word == "start":
        current, kind, timeout = int(rest[0]), rest[1].strip(), args.timeout
      elif word == "done":
        outcome = rest[1]
        key, *detail = outcome.split()
        if key in ("bug", "crash"):
          problems.append(f"{name} case {current} ({kind}): {outcome.strip()}")
          counts["bugs" if key == "bug" else "crashes"] += 1
        else:
          counts[key] += 1
          kinds[f"{kind}/{key}"] = kinds.get(f"{kind}/{key}", 0) + 1
        if key == "decoded":
          counts["largest_decoded_pixels"] = max(counts["largest_decoded_pixels"],
                                                 int(detail[0]))
        counts["cases"] += 1
        current = None
        if int(rest[0]) == last - 1:
          proc.wait()
          return
    if current is None:
      sys.exit(f"error: the {name} worker failed before its first case")
    counts["cases"] += 1
    first = current + 1


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--cases", type=int, default=10000)
  parser.add_argument("--models", default=",".join(MODELS))
  parser.add_argument("--memory-gb", type=float, default=6.0)
  parser.add_argument("--timeout", type=float, default=120.0)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--json", default="")
  parser.add_argument("--worker", nargs=6, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    model_dir, valid, seed, first, last, memory_gb = args.worker
    worker(model_dir, valid, int(seed), int(first), int(last), float(memory_gb))
    return

  counts = {k: 0 for k in ("cases", "refused", "decoded", "hangs", "aborts", "crashes",
                           "bugs", "largest_decoded_pixels")}
  problems, per_model, kinds = [], {}, {}
  start = time.perf_counter()
  with tempfile.TemporaryDirectory() as directory:
    for name in args.models.split(","):
      valid = _valid_file(name, directory)
      before = dict(counts)
      model_start = time.perf_counter()
      run_model(name, valid, os.path.join(directory, name), args, counts, kinds, problems)
      per_model[name] = {k: counts[k] - before[k] for k in counts
                         if k != "largest_decoded_pixels"}
      per_model[name]["seconds"] = round(time.perf_counter() - model_start, 1)
      print(f"{name}: {per_model[name]}", flush=True)
  for problem in problems:
    print(problem)
  print(", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
  print(f"{counts['cases']} cases in {time.perf_counter() - start:.0f} s, "
        f"{args.memory_gb:g} GB address space per worker, {args.timeout:g} s per case")
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"counts": counts, "per_model": per_model, "kinds": kinds, "problems": problems,
                 "memory_gb": args.memory_gb, "timeout_s": args.timeout, "seed": args.seed},
                f, indent=2)
  print(" ".join(f"{k}={v}" for k, v in counts.items()))
  if any(counts[k] for k in ("hangs", "aborts", "crashes", "bugs")):
    sys.exit(1)


if __name__ == "__main__":
  main()
