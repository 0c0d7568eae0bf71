r"""Fuzzing every decoder: thousands of hostile .lic files of every version,
each under a time and memory limit.

  python benchmarks/fuzz_codec.py [--cases 10000] [--memory-gb 6] [--timeout 120]
      [--families bls2017,...,ohm,int,split,grouping] [--json results/fuzz_codec.json]

The families are benchmarks/families.py's fixed-seed decoders: the image
codecs (versions 1 and 2: bls2017, bmshj2018, mbt2018_mean, mbt2018,
he2021, ms2020, cbanet_hp, cbanet_ar), the OHM / INT map streams (version 3) and the
split-computing and grouping feature files (version 4). For each, a valid
file of a Kodak crop is attacked in cases/len(families) ways by the kinds of
lic_jax.coding.fuzz for its version (byte mutations, payload bytes, cut,
swapped, duplicated and synthetic streams, edited names, declared sizes up
to beyond the format, foreign latent tables, moved stream boundaries, tiny
files declaring large images, foreign bitrate fields; map counts and
channels; split points and unit or profile indexes), each decoded by a
worker process whose address space is limited to --memory-gb (RLIMIT_AS).
The parent watches every case: one that does not finish within --timeout
seconds is a hang, a worker killed by a signal is an abort (std::bad_alloc
is SIGABRT), an exception other than BitstreamError a crash, a decoded file
with a header the decoder should have refused (a foreign latent table, map
count or channels, a unit or profile outside the bank) or an output of
another shape a bug. After any of these the worker restarts at the next
case. The last line is

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
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import families  # pylint: disable=wrong-import-position

from lic_jax import cli  # pylint: disable=wrong-import-position


def _attacks(family, seed: int):
  """(make_case, check) for the family's version: make_case(index) -> (kind,
  hostile file), check(kind, data) -> 'refused' or 'decoded' (AssertionError:
  a bug), as lic_jax.coding.fuzz defines them."""
  from lic_jax.coding import fuzz  # pylint: disable=g-import-not-at-top

  codec, valid = family.codec, family.valid
  if family.version in (1, 2):
    return (lambda i: fuzz.case(valid, seed, i, codec.latent_shapes),
            lambda kind, data: fuzz.check(codec.decompress, kind, data, valid))
  if family.version == 3:
    return (lambda i: fuzz.map_case(valid, seed, i),
            lambda kind, data: fuzz.check_map(codec, kind, data))
  classes = family.decode(valid).shape[0]
  return (lambda i: fuzz.feature_case(valid, seed, i),
          lambda kind, data: fuzz.check_features(codec, kind, data, classes))


def _pixels(data: bytes) -> int:
  """The declared pixels of a file that decoded."""
  from lic_jax.coding import container  # pylint: disable=g-import-not-at-top

  version = data[4]
  unpack = {3: container.unpack_maps, 4: container.unpack_features}.get(version,
                                                                         container.unpack)
  header = unpack(data)[0]
  return header.height * header.width


def worker(name: str, seed: int, first: int, last: int, memory_gb: float) -> None:
  """Decodes cases first..last-1 of a family, one line per case on stdout, in
  at most memory_gb of address space."""
  limit = int(memory_gb * 2**30)
  resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
  make_case, check = _attacks(families.build(name), seed)
  print("ready", flush=True)
  for index in range(first, last):
    kind, data = make_case(index)
    print(f"start {index} {kind}", flush=True)
    try:
      outcome = check(kind, data)
      if outcome == "decoded":
        outcome += f" {_pixels(data)}"
    except AssertionError as e:
      outcome = f"bug {e}"
    except Exception as e:  # pylint: disable=broad-except
      outcome = f"crash {type(e).__name__}: {e}"
    print(f"done {index} {outcome}", flush=True)


def run_family(name: str, args, counts: dict, kinds: dict, problems: list) -> None:
  """Runs the family's cases through workers, restarting after a failure;
  adds to counts, to kinds ('<family>/<kind>/<outcome>') and to problems."""
  first, last = 0, args.cases // len(args.families.split(","))
  startup_timeout = 300
  while first < last:
    command = [sys.executable, __file__, "--worker", name, str(args.seed),
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
          kinds[f"{name}/{kind}/{key}"] = kinds.get(f"{name}/{kind}/{key}", 0) + 1
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
  parser = argparse.ArgumentParser(description=cli.summary(__doc__))
  parser.add_argument("--cases", type=int, default=10000)
  parser.add_argument("--families", "--models", default=",".join(families.FAMILIES))
  parser.add_argument("--memory-gb", type=float, default=6.0)
  parser.add_argument("--timeout", type=float, default=120.0)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--json", default="")
  parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    name, seed, first, last, memory_gb = args.worker
    worker(name, int(seed), int(first), int(last), float(memory_gb))
    return

  counts = {k: 0 for k in ("cases", "refused", "decoded", "hangs", "aborts", "crashes",
                           "bugs", "largest_decoded_pixels")}
  problems, per_family, kinds = [], {}, {}
  start = time.perf_counter()
  for name in args.families.split(","):
    before = dict(counts)
    family_start = time.perf_counter()
    run_family(name, args, counts, kinds, problems)
    per_family[name] = {k: counts[k] - before[k] for k in counts
                        if k != "largest_decoded_pixels"}
    per_family[name]["seconds"] = round(time.perf_counter() - family_start, 1)
    print(f"{name}: {per_family[name]}", flush=True)
  for problem in problems:
    print(problem)
  print(f"{counts['cases']} cases in {time.perf_counter() - start:.0f} s, "
        f"{args.memory_gb:g} GB address space per worker, {args.timeout:g} s per case")
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"counts": counts, "per_family": per_family, "kinds": kinds,
                 "problems": problems, "memory_gb": args.memory_gb, "timeout_s": args.timeout,
                 "seed": args.seed}, f, indent=2)
  print(" ".join(f"{k}={v}" for k, v in counts.items()))
  if any(counts[k] for k in ("hangs", "aborts", "crashes", "bugs")):
    sys.exit(1)


if __name__ == "__main__":
  main()
