"""Mutation fuzzing of .lic files, shared by the tests and benchmarks/fuzz_codec.py.

Half of the cases keep the checksum broken (the container must refuse them);
the other half repair it, so hostile header fields and payload bytes reach
the parser, the range decoder and the transforms. Every case must either
decode to a finite image of the right size or raise BitstreamError; anything
else (another exception, a crash, a hang) is a bug.
"""

import struct
import zlib

import numpy as np

from lic_jax.coding import container
from lic_jax.coding.container import BitstreamError


def with_checksum(body: bytes) -> bytes:
  """`body` (a file without its last 4 bytes) with a valid checksum."""
  return body + struct.pack("<I", zlib.crc32(body))


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
  """A bit flip, byte overwrite, deletion, insertion or truncation."""
  data = bytearray(data)
  kind = int(rng.integers(5))
  pos = int(rng.integers(len(data)))
  if kind == 0:
    data[pos] ^= 1 << int(rng.integers(8))
  elif kind == 1:
    data[pos] = int(rng.integers(256))
  elif kind == 2:
    del data[pos:pos + int(rng.integers(1, 9))]
  elif kind == 3:
    data[pos:pos] = bytes(rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8))
  else:
    del data[pos:]
  return bytes(data)


def fuzz(decompress, valid: bytes, cases: int, seed: int = 0) -> dict[str, int]:
  """Runs `cases` mutated files through decompress; returns outcome counts."""
  rng = np.random.default_rng(seed)
  outcomes = {"refused": 0, "decoded": 0}
  for case in range(cases):
    mutated = mutate(valid, rng)
    if case % 2 and len(mutated) > 4:
      mutated = with_checksum(mutated[:-4])
    try:
      recon = decompress(mutated)
    except BitstreamError:
      outcomes["refused"] += 1
      continue
    header, _ = container.unpack(mutated)
    declared = (header.height, header.width, 3)
    if recon.shape != declared or not np.all((recon >= 0) & (recon <= 1)):
      raise AssertionError(f"case {case}: decoded to {recon.shape} (declared {declared}), "
                           f"range [{recon.min()}, {recon.max()}]")
    outcomes["decoded"] += 1
  return outcomes
