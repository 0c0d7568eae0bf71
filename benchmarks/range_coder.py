r"""Our range coder against tensorflow-compression's, on real and random streams.

  python benchmarks/range_coder.py [--kodak ../shared/data/kodak] [--tables 10000]
      [--pmfs 10000] [--corrupt 10000] [--timeout 2] [--json results/range_coder.json]

Needs tfc's ops (pip install 'lic_jax[tfc]').

1. Kodak: every stream of all 24 images for the five bundled quality levels
   and for each model family (fixed-seed, untrained, N=64, M=96; the
   symbols are what matters) is encoded by both encoders (the bytes must be
   identical) and decoded by both decoders, call by call (the wavefront's
   incremental calls too): the symbols must be identical. Each untrained
   model's tables are also built with tfc's pmf_to_quantized_cdf: the same
   integers as ours.
2. Random tables: --tables batches of random CDF rows (precisions 1..16, with
   and without the escape) and random symbols, many escaped, every 500th
   batch empty: our encoder's bytes must equal tfc's and both decoders must
   return the symbols. --pmfs random pmfs (precisions 1..16, ties
   included): our quantized CDFs must equal tfc's.
3. Corrupt streams: --corrupt streams from (1) and (2) with bit flips,
   overwritten or appended bytes, cuts, one repeated byte or random bytes.
   Ours either decodes and finishes (tfc must give the same symbols and a
   true finalize flag), decodes but fails to finish (tfc: the same symbols,
   a false flag) or stops at an escape code no int32 needs (tfc: runs on
   reading zero bits; it is given --timeout seconds in a process of its own,
   killed when it does not return). Anything else is a mismatch.

The last line is `kodak_streams=<n> tables=<n> corrupt=<n> mismatches=<n>`;
the exit status is 1 if there is any mismatch.

4. Speed: the y symbols of kodim01 and kodim02 under the bundled quality 5
   (2 x 1536 x 96 = 294,912, the size of one Kodak latent of M = 192),
   encoded and decoded in one call by each coder; the best of --repeats.
"""

import argparse
import glob
import json
import multiprocessing
import os
import sys
import time
from unittest import mock

import numpy as np

from lic_jax import cli

MODELS = ("bls2017", "bmshj2018", "mbt2018_mean", "mbt2018")
LEVELS = (1, 2, 3, 4, 5)


def _tfc_server(conn) -> None:
  """Decodes (data, indexes, rows) requests with tfc's decoder until closed."""
  from lic_jax.coding import tfc_ops  # pylint: disable=g-import-not-at-top

  while True:
    try:
      data, indexes, rows = conn.recv()
    except EOFError:
      return
    conn.send(tfc_ops.decode(data, indexes, rows))


class TfcDecoder:
  """tfc's decoder in a process of its own, so that a case that loops forever
  can be killed (None) and the next one goes to a fresh process."""

  def __init__(self, timeout: float):
    self.timeout = timeout
    self._context = multiprocessing.get_context("spawn")
    self._start()

  def _start(self) -> None:
    self._conn, child = self._context.Pipe()
    self._proc = self._context.Process(target=_tfc_server, args=(child,), daemon=True)
    self._proc.start()
    # The first request waits for TensorFlow to load.
    self._conn.send((b"", np.zeros(1, np.int32), np.array([[1, 0, 2]], np.int32)))
    if not self._conn.poll(300):
      raise RuntimeError("the tfc decoding process did not start")
    self._conn.recv()

  def decode(self, data: bytes, indexes: np.ndarray, rows: np.ndarray):
    """(values, finalize flag), or None when tfc did not return in time."""
    self._conn.send((data, indexes, rows))
    if self._conn.poll(self.timeout):
      return self._conn.recv()
    self._proc.kill()
    self._proc.join()
    self._start()
    return None


def _ours(data: bytes, indexes: np.ndarray, lookup):
  """(values or None, finished, error) from our decoder."""
  from lic_jax.coding import range_coder  # pylint: disable=g-import-not-at-top
  from lic_jax.coding.container import BitstreamError  # pylint: disable=g-import-not-at-top

  decoder = range_coder.Decoder(data, lookup)
  try:
    values = decoder.decode(indexes)
  except BitstreamError as e:
    return None, False, str(e)
  try:
    decoder.finish()
  except BitstreamError as e:
    return values, False, str(e)
  return values, True, ""


def compare(ours, theirs) -> str:
  """The category of one corrupt stream's outcome, 'mismatch' if the two disagree."""
  values, finished, error = ours
  if values is None:
    if theirs is None:
      return "ours_escape_error_tfc_loops"
    return "ours_escape_error_tfc_returned" if "escape" in error else "mismatch"
  if theirs is None or not np.array_equal(values, theirs[0]) or theirs[1] != finished:
    return "mismatch"
  return "same_finished" if finished else "same_unfinished"


def corrupt(data: bytes, rng: np.random.Generator) -> bytes:
  """A byte mutation (lic_jax.coding.fuzz.mutate), the last two bytes
  overwritten, bytes appended, one repeated byte or random bytes."""
  from lic_jax.coding import fuzz  # pylint: disable=g-import-not-at-top

  kind = int(rng.integers(5))
  random = lambda n: rng.integers(0, 256, n, np.uint8).tobytes()
  if kind == 0:
    return fuzz.mutate(data, rng)
  if kind == 1:
    return data[:-2] + random(len(data[-2:]))
  if kind == 2:
    return data + random(int(rng.integers(1, 5)))
  if kind == 3:
    return bytes([int(rng.integers(256))]) * len(data)
  return random(len(data))


class RecordingRangeCoder:
  """model_codecs' view of lic_jax.coding.range_coder: encodes and decodes
  with ours and with tfc's, asserts the same bytes and symbols call by call,
  and keeps every (stream, indexes, lookup) it decoded."""

  def __init__(self, tfc_ops, range_coder):
    self.Lookup = range_coder.Lookup  # pylint: disable=invalid-name
    self.streams = []  # (data, indexes, lookup, label)
    self.label = None
    outer = self

    def encode(values, indexes, lookup):
      ours = range_coder.encode(values, indexes, lookup)
      assert ours == tfc_ops.encode(values, indexes, lookup.rows), "tfc writes other bytes"
      return ours

    def decode(data, indexes, lookup, name=""):
      ours = range_coder.decode(data, indexes, lookup, name)
      theirs, finished = tfc_ops.decode(data, indexes, lookup.rows)
      assert finished and np.array_equal(ours, theirs), f"{name}: tfc decodes other symbols"
      outer.streams.append((data, np.asarray(indexes), lookup, outer.label))
      return ours

    class Decoder:
      def __init__(self, data, lookup, name=""):
        self.ours = range_coder.Decoder(data, lookup, name)
        self.theirs = tfc_ops.Decoder(data, lookup.rows)
        self.data, self.lookup, self.name, self.indexes = data, lookup, name, []

      def decode(self, indexes):
        ours, theirs = self.ours.decode(indexes), self.theirs.decode(indexes)
        assert np.array_equal(ours, theirs), f"{self.name}: tfc decodes other symbols"
        self.indexes.append(np.asarray(indexes).ravel())
        return ours

      def finish(self):
        self.ours.finish()
        assert self.theirs.finish()
        outer.streams.append((self.data, np.concatenate(self.indexes), self.lookup,
                              outer.label))

    self.encode, self.decode, self.Decoder = encode, decode, Decoder


def _same_tables(name: str, model, params, fresh: dict) -> None:
  """The model's tables built with tfc's pmf_to_quantized_cdf equal `fresh`."""
  from lic_jax.coding import model_codecs, quantized_cdf, tfc_ops  # pylint: disable=g-import-not-at-top

  with mock.patch.object(quantized_cdf, "pmf_to_quantized_cdf", tfc_ops.pmf_to_quantized_cdf):
    theirs = model_codecs.CODECS[name].freeze(model, params)
  if sorted(theirs) != sorted(fresh) or any(
      not np.array_equal(theirs[k], fresh[k]) for k in fresh):
    raise AssertionError(f"{name}: tfc's quantized CDFs make other tables")


def kodak(paths: list[str]) -> list[tuple]:
  """Section 1; returns every stream decoded, with its indexes, lookup and
  label (model, image index)."""
  import jax  # pylint: disable=g-import-not-at-top

  from lic_jax import image as image_lib  # pylint: disable=g-import-not-at-top
  from lic_jax.codec import Codec  # pylint: disable=g-import-not-at-top
  from lic_jax.coding import latent_codecs, range_coder, tfc_ops  # pylint: disable=g-import-not-at-top
  from lic_jax.models import build_model  # pylint: disable=g-import-not-at-top

  recorder = RecordingRangeCoder(tfc_ops, range_coder)
  images = [image_lib.read_rgb_uint8(p) for p in paths]
  codecs = {f"bundled q{q}": (lambda q=q: Codec.load(quality=q)) for q in LEVELS}
  for name in MODELS:
    def untrained(name=name):
      model = build_model(name, num_filters=64, num_latents=96)
      key = jax.random.PRNGKey(0)
      params = model.init({"params": key, "noise": key}, np.zeros((1, 64, 64, 3), np.float32),
                          training=True)["params"]
      codec = Codec.from_params({"name": name, "num_filters": 64, "num_latents": 96}, params)
      _same_tables(name, model, params, codec.impl_arrays)
      return codec
    codecs[name] = untrained
  for label, make in codecs.items():
    start, before = time.perf_counter(), len(recorder.streams)
    codec = make()
    with mock.patch.object(latent_codecs, "range_coder", recorder):
      for i, image in enumerate(images):
        recorder.label = (label, i)
        codec.decompress(codec.compress(image))
    symbols = sum(s[1].size for s in recorder.streams[before:])
    print(f"kodak {label}: {len(recorder.streams) - before} streams, {symbols:,} symbols: "
          f"same bytes, same symbols ({time.perf_counter() - start:.0f} s)", flush=True)
  return recorder.streams


def speed(streams: list[tuple], repeats: int) -> dict:
  """Section 4: encode and decode seconds of both coders, best of `repeats`."""
  from lic_jax.coding import range_coder, tfc_ops  # pylint: disable=g-import-not-at-top

  values, indexes, lookup = [], [], None
  for image in (0, 1):  # kodim01, kodim02: the y stream is each one's largest.
    data, index, lookup, _ = max((s for s in streams if s[3] == ("bundled q5", image)),
                                 key=lambda s: s[1].size)
    values.append(range_coder.decode(data, index, lookup))
    indexes.append(index.ravel())
  values, indexes = np.concatenate([v.ravel() for v in values]), np.concatenate(indexes)
  data = range_coder.encode(values, indexes, lookup)
  assert tfc_ops.encode(values, indexes, lookup.rows) == data

  def best(fn) -> float:
    times = []
    for _ in range(repeats):
      start = time.perf_counter()
      fn()
      times.append(time.perf_counter() - start)
    return min(times)

  result = {"symbols": int(values.size), "bytes": len(data), "repeats": repeats,
            "lic_jax_encode_s": best(lambda: range_coder.encode(values, indexes, lookup)),
            "tfc_encode_s": best(lambda: tfc_ops.encode(values, indexes, lookup.rows)),
            "lic_jax_decode_s": best(lambda: range_coder.decode(data, indexes, lookup)),
            "tfc_decode_s": best(lambda: tfc_ops.decode(data, indexes, lookup.rows))}
  result["encode_ratio"] = result["lic_jax_encode_s"] / result["tfc_encode_s"]
  result["decode_ratio"] = result["lic_jax_decode_s"] / result["tfc_decode_s"]
  print(f"speed on {values.size:,} symbols ({len(data):,} bytes), best of {repeats}: "
        f"encode {1e3 * result['lic_jax_encode_s']:.1f} ms (tfc "
        f"{1e3 * result['tfc_encode_s']:.1f} ms, x{result['encode_ratio']:.2f}), decode "
        f"{1e3 * result['lic_jax_decode_s']:.1f} ms (tfc {1e3 * result['tfc_decode_s']:.1f} ms, "
        f"x{result['decode_ratio']:.2f})", flush=True)
  return result


def random_pmfs(cases: int, rng) -> int:
  """Section 2's quantized CDFs; returns how many had tied masses."""
  sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
  from test_range_coder import random_pmf  # pylint: disable=g-import-not-at-top

  from lic_jax.coding import quantized_cdf, tfc_ops  # pylint: disable=g-import-not-at-top

  ties = 0
  for case in range(cases):
    precision = int(rng.integers(1, 17))
    pmf = random_pmf(rng, case, int(rng.integers(2, min(1 << precision, 1000) + 1)))
    if not np.array_equal(quantized_cdf.pmf_to_quantized_cdf(pmf, precision),
                          tfc_ops.pmf_to_quantized_cdf(pmf, precision)):
      raise AssertionError(f"pmf case {case}: our quantized CDF differs")
    ties += len(np.unique(pmf)) < len(pmf)
  print(f"random pmfs: {cases} quantized CDFs ({ties} with tied masses): same integers",
        flush=True)
  return ties


def random_tables(cases: int, rng) -> list[tuple]:
  """Section 2; returns the streams with their indexes and lookups."""
  sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
  from test_range_coder import random_symbols, random_table  # pylint: disable=g-import-not-at-top

  from lic_jax.coding import range_coder, tfc_ops  # pylint: disable=g-import-not-at-top

  streams, escaped, symbols = [], 0, 0
  for case in range(cases):
    rows = random_table(rng)
    lookup = range_coder.Lookup.of(rows)
    values, indexes = random_symbols(rng, lookup, int(rng.integers(0, 300)) if case % 500 else 0)
    data = tfc_ops.encode(values, indexes, rows)
    if range_coder.encode(values, indexes, lookup) != data:
      raise AssertionError(f"random table case {case}: our encoder's bytes differ")
    theirs, finished = tfc_ops.decode(data, indexes, rows)
    if not (finished and np.array_equal(theirs, values)
            and np.array_equal(range_coder.decode(data, indexes, lookup), values)):
      raise AssertionError(f"random table case {case}: decoded symbols differ")
    escaped += int(np.sum((rows[indexes, 0] < 0) & ((values >= lookup.lengths[indexes] - 2)
                                                   | (values < 0))))
    symbols += values.size
    streams.append((data, indexes, lookup, None))
  print(f"random tables: {cases} batches, {symbols:,} symbols ({escaped:,} escaped): "
        "same bytes, same symbols", flush=True)
  return streams


def main():
  parser = argparse.ArgumentParser(description=cli.summary(__doc__))
  parser.add_argument("--kodak", default=os.path.join("..", "shared", "data", "kodak"))
  parser.add_argument("--tables", type=int, default=10000)
  parser.add_argument("--pmfs", type=int, default=10000)
  parser.add_argument("--corrupt", type=int, default=10000)
  parser.add_argument("--repeats", type=int, default=20)
  parser.add_argument("--timeout", type=float, default=2.0)
  parser.add_argument("--json", default="")
  args = parser.parse_args()
  rng = np.random.default_rng(0)
  paths = sorted(glob.glob(os.path.join(args.kodak, "kodim*.png")))
  if len(paths) != 24:
    sys.exit(f"error: expected the 24 Kodak images in {args.kodak}, found {len(paths)}")
  real = kodak(paths)
  timing = speed(real, args.repeats)
  synthetic = random_tables(args.tables, rng)
  ties = random_pmfs(args.pmfs, rng)

  tfc = TfcDecoder(args.timeout)
  outcomes, start = {}, time.perf_counter()
  for case in range(args.corrupt):
    pool = real if case % 2 else synthetic
    data, indexes, lookup, _ = pool[int(rng.integers(len(pool)))]
    bad = corrupt(data, rng)
    outcome = compare(_ours(bad, indexes, lookup), tfc.decode(bad, indexes, lookup.rows))
    outcomes[outcome] = outcomes.get(outcome, 0) + 1
  print(f"corrupt streams: {args.corrupt} in {time.perf_counter() - start:.0f} s: {outcomes}")
  mismatches = outcomes.get("mismatch", 0)
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"kodak_models": [f"bundled q{q}" for q in LEVELS] + list(MODELS),
                 "kodak_streams": len(real), "kodak_symbols": sum(s[1].size for s in real),
                 "tables": args.tables, "pmfs": args.pmfs, "pmfs_with_ties": ties,
                 "corrupt": outcomes, "timeout_s": args.timeout, "speed": timing}, f, indent=2)
  print(f"kodak_streams={len(real)} tables={args.tables} corrupt={args.corrupt} "
        f"mismatches={mismatches}")
  if mismatches:
    sys.exit(1)


if __name__ == "__main__":
  main()
