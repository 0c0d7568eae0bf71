"""Hostile .lic files, shared by the tests and benchmarks/fuzz_codec.py.

Every case is one attack on a valid file, chosen as an attacker who knows
the format would (the kinds below). Except for plain byte mutations, half
of which keep the checksum broken, every case carries a recomputed
checksum, so the hostile fields and payloads reach the parser, the range
decoder and the transforms. Each case must either decode to an image of
the declared size in [0, 1] or raise BitstreamError; a latent table other
than the model's must be refused. Anything else (another exception, a
crash, a hang, memory exhaustion) is a bug.
"""

import struct
import zlib

import numpy as np

from lic_jax.coding import container
from lic_jax.coding.container import BitstreamError

# The attacks, each a function of (the valid file's fields, rng).
KINDS = ("bytes", "stream_bytes", "stream_cut", "swap", "duplicate", "synthetic",
         "size", "table", "lengths", "declared", "bitrate", "name")
# Sizes the `declared` attack makes files for (a few of them large: the
# decoder's memory limit and its bands are what keeps those within bounds).
DECLARED_SIZES = ((1, 1), (3, 700), (700, 3), (333, 517), (1000, 1000), (2048, 2048),
                  (4000, 6000), (8192, 8192), (8192, 8193), (16383, 16385))


def with_checksum(body: bytes) -> bytes:
  """`body` (a file without its last 4 bytes) with a valid checksum."""
  return body + struct.pack("<I", zlib.crc32(body))


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
  """A bit flip, byte overwrite, deletion, insertion or truncation."""
  data = bytearray(data)
  kind = int(rng.integers(5))
  pos = int(rng.integers(len(data))) if data else 0
  if kind == 0 and data:
    data[pos] ^= 1 << int(rng.integers(8))
  elif kind == 1 and data:
    data[pos] = int(rng.integers(256))
  elif kind == 2:
    del data[pos:pos + int(rng.integers(1, 9))]
  elif kind == 3:
    data[pos:pos] = _random_bytes(rng, int(rng.integers(1, 9)))
  else:
    del data[pos:]
  return bytes(data)


def _random_bytes(rng: np.random.Generator, n: int) -> bytes:
  return rng.integers(0, 256, n, dtype=np.uint8).tobytes()


def _name(valid: bytes, rng: np.random.Generator) -> bytes:
  """The model name's bytes edited, the checksum recomputed (any version):
  a byte beyond ASCII, an unprintable one or a space, or another length."""
  body = bytearray(valid[:-4])
  length = body[5]
  choice = int(rng.integers(3))
  if choice == 2 or not length:
    body[5] = int(rng.choice([0, 1, length + 1, 65, 255]))
  else:
    pos = 6 + int(rng.integers(length))
    body[pos] = int(rng.integers(0x80, 0x100)) if choice == 0 else int(rng.choice([0, 0x20, 0x7F]))
  return with_checksum(bytes(body))


# build()'s default bitrate: the valid file's (None is a value: no field).
_SAME = object()


class _File:
  """A valid file's fields, rebuilt with some of them changed."""

  def __init__(self, valid: bytes):
    header, self.streams = container.unpack(valid)
    self.header = header
    self.table = list(header.latent_shapes.items())

  def build(self, table=None, streams=None, height=None, width=None,
            bitrate=_SAME) -> bytes:
    h = self.header
    return container.pack_fields(h.model, h.config_hash, h.tables_hash,
                                 h.height if height is None else height,
                                 h.width if width is None else width,
                                 self.table if table is None else table,
                                 self.streams if streams is None else streams,
                                 h.bitrate if bitrate is _SAME else bitrate)

  def with_stream(self, i: int, stream: bytes) -> bytes:
    streams = list(self.streams)
    streams[i] = stream
    return self.build(streams=streams)


def _stream_bytes(f: _File, rng) -> bytes:
  """Bytes inside one stream changed: a bit, a byte, or its last two bytes."""
  i = int(rng.integers(len(f.streams)))
  stream = bytearray(f.streams[i])
  if not stream:
    return f.with_stream(i, b"\x00")
  choice = int(rng.integers(3))
  pos = int(rng.integers(len(stream)))
  if choice == 0:
    stream[pos] ^= 1 << int(rng.integers(8))
  elif choice == 1:
    stream[pos] = int(rng.integers(256))
  else:
    stream[-2:] = _random_bytes(rng, len(stream[-2:]))
  return f.with_stream(i, bytes(stream))


def _stream_cut(f: _File, rng) -> bytes:
  i = int(rng.integers(len(f.streams)))
  keep = int(rng.integers(min(6, len(f.streams[i]) + 1))) if rng.random() < 0.5 else \
      int(rng.integers(len(f.streams[i]) + 1))
  return f.with_stream(i, f.streams[i][:keep])


def _swap(f: _File, rng) -> bytes:
  if len(f.streams) > 1:
    return f.build(streams=f.streams[::-1])
  return f.with_stream(0, f.streams[0][::-1])


def _duplicate(f: _File, rng) -> bytes:
  """One stream in the place of another, or one stream twice over."""
  i, j = (int(v) for v in rng.integers(len(f.streams), size=2))
  if i != j:
    return f.with_stream(j, f.streams[i])
  return f.with_stream(i, f.streams[i] * 2)


def _synthetic(f: _File, rng) -> bytes:
  """A stream of one repeated byte, or of random bytes, of any length."""
  i = int(rng.integers(len(f.streams)))
  n = int(rng.choice([0, 1, 2, 3, 4, 16, 256, 2 * len(f.streams[i]) + 1]))
  if rng.random() < 0.5:
    stream = bytes([int(rng.choice([0, 0xFF, int(rng.integers(256))]))]) * n
  else:
    stream = _random_bytes(rng, n)
  return f.with_stream(i, stream)


def _size(f: _File, rng) -> bytes:
  """Another declared size: near the real one, tiny, huge, zero or beyond the format."""
  h, w = f.header.height, f.header.width
  choices = [(max(1, h - int(rng.integers(16))), max(1, w - int(rng.integers(16)))),
             (int(rng.integers(1, 4)), int(rng.integers(1, 4))),
             (16383, 16385), (container.MAX_SIDE, container.MAX_SIDE), (0, w),
             (int(rng.integers(1, 2**32)), int(rng.integers(1, 2**32))),
             (h * int(rng.integers(2, 64)), w)]
  height, width = choices[int(rng.integers(len(choices)))]
  return f.build(height=height, width=width)


def _table(f: _File, rng) -> bytes:
  """A latent table other than the model's (with a stream per entry)."""
  table, streams = list(f.table), list(f.streams)
  choice = int(rng.integers(6))
  i = int(rng.integers(len(table)))
  if choice == 0 and len(table) > 1:  # another order
    table, streams = table[::-1], streams[::-1]
  elif choice == 1:  # an entry twice
    table.insert(i, table[i])
    streams.insert(i, streams[i])
  elif choice == 2 and len(table) > 1:  # one missing
    del table[i], streams[i]
  elif choice == 3:  # an extra latent
    table.append(("w", (1, 1, 1)))
    streams.append(b"")
  elif choice == 4:  # another shape
    name, shape = table[i]
    shape = list(shape)
    axis = int(rng.integers(len(shape)))
    shape[axis] += int(rng.choice([-1, 1, 7])) if shape[axis] > 1 else int(rng.choice([1, 7]))
    table[i] = (name, tuple(shape))
  else:  # another name, or another rank
    name, shape = table[i]
    table[i] = ("q" + name[1:], shape) if rng.random() < 0.5 else (name, (*shape, 1))
  return f.build(table=table, streams=streams)


def _declared(f: _File, rng, latent_shapes) -> bytes:
  """Another size with the table that size has, its streams empty, a few
  random bytes or one repeated byte: a tiny file that asks for a large
  image (an empty stream decodes, every symbol its table's first)."""
  small = rng.random() < 0.98
  sizes = DECLARED_SIZES[:5] if small else DECLARED_SIZES[5:]
  height, width = sizes[int(rng.integers(len(sizes)))]
  streams = [(b"", _random_bytes(rng, 3), b"\x80" * 8)[int(rng.integers(3))]
             for _ in f.streams]
  table = list(latent_shapes(height, width).items())
  return f.build(table=table, streams=streams, height=height, width=width)


def _lengths(f: _File, rng) -> bytes:
  """The stream boundaries moved, the lengths still adding up."""
  payload = b"".join(f.streams)
  cuts = np.sort(rng.integers(0, len(payload) + 1, len(f.streams) - 1))
  bounds = [0, *cuts.tolist(), len(payload)]
  return f.build(streams=[payload[a:b] for a, b in zip(bounds[:-1], bounds[1:])])


def _bitrate(f: _File, rng) -> bytes:
  """Another bitrate field: another index or count (u8 each, the index
  beyond the count too), one added to a single-rate file, or one dropped."""
  choice = int(rng.integers(4))
  if choice == 0:
    return f.build(bitrate=None)
  if choice == 1:
    return f.build(bitrate=(int(rng.integers(256)), int(rng.integers(256))))
  j, n = f.header.bitrate or (0, 1)
  if choice == 2:
    return f.build(bitrate=(int(rng.integers(max(n, 2) + 2)), n))
  return f.build(bitrate=(j, max(1, n + int(rng.choice([-1, 1, 200])))))


def _bytes(f: _File, rng, valid: bytes) -> bytes:
  mutated = mutate(valid, rng)
  if rng.random() < 0.5 and len(mutated) > 4:
    mutated = with_checksum(mutated[:-4])
  return mutated


_ATTACKS = {"stream_bytes": _stream_bytes, "stream_cut": _stream_cut, "swap": _swap,
            "duplicate": _duplicate, "synthetic": _synthetic, "size": _size,
            "table": _table, "lengths": _lengths, "bitrate": _bitrate}


def case(valid: bytes, seed: int, index: int, latent_shapes) -> tuple[str, bytes]:
  """Case `index` of a run: (its kind, the hostile file); a function of
  (valid, seed, index) alone, so that any case can be replayed.
  latent_shapes(height, width) is the decoder's table for a size."""
  rng = np.random.default_rng([seed, index])
  kind = KINDS[index % len(KINDS)]
  f = _File(valid)
  if kind == "bytes":
    return kind, _bytes(f, rng, valid)
  if kind == "declared":
    return kind, _declared(f, rng, latent_shapes)
  if kind == "name":
    return kind, _name(valid, rng)
  return kind, _ATTACKS[kind](f, rng)


def check(decompress, kind: str, data: bytes, valid: bytes) -> str:
  """Runs one case; 'refused' or 'decoded', or AssertionError naming the bug."""
  try:
    recon = decompress(data)
  except BitstreamError:
    return "refused"
  header, _ = container.unpack(data)
  # Apart from `declared`, no attack makes another size's table: whatever
  # decodes has the table of the valid file.
  table = list(header.latent_shapes.items())
  if kind != "declared" and table != list(container.unpack(valid)[0].latent_shapes.items()):
    raise AssertionError(f"{kind}: a latent table other than the model's was decoded: "
                         f"{table}")
  declared = (header.height, header.width, 3)
  if recon.shape != declared or not np.all((recon >= 0) & (recon <= 1)):
    raise AssertionError(f"{kind}: decoded to {recon.shape} (declared {declared}), "
                         f"range [{recon.min()}, {recon.max()}]")
  return "decoded"


def run_cases(cases: int, make_case, check_case) -> dict[str, int]:
  """Outcome counts of cases 0..cases-1, also per kind ('<kind>/refused',
  '<kind>/decoded'): make_case(index) -> (kind, data), check_case(kind,
  data) -> outcome (AssertionError: a bug)."""
  outcomes = {"refused": 0, "decoded": 0}
  for index in range(cases):
    kind, data = make_case(index)
    outcome = check_case(kind, data)
    outcomes[outcome] += 1
    outcomes[f"{kind}/{outcome}"] = outcomes.get(f"{kind}/{outcome}", 0) + 1
  return outcomes


def fuzz(codec, valid: bytes, cases: int, seed: int = 0) -> dict[str, int]:
  """Runs cases 0..cases-1 through codec.decompress (run_cases' counts)."""
  return run_cases(cases, lambda i: case(valid, seed, i, codec.latent_shapes),
                   lambda kind, data: check(codec.decompress, kind, data, valid))


# The attacks on truncatable map files (container version 3).
MAP_KINDS = ("bytes", "stream_bytes", "stream_cut", "swap", "sent", "num_maps", "size",
             "channels", "declared", "name")
# Sizes the `declared` attack on map files asks for, with no or a few short
# streams: small ones, the largest within the default max_pixels (which the
# memory check refuses where it does not fit), and ones just beyond it.
MAP_DECLARED_SIZES = ((1, 1), (17, 33), (300, 200), (1000, 700),
                      (4096, 2048), (8192, 2048), (4096, 4096), (16384, 1024))


def map_case(valid: bytes, seed: int, index: int) -> tuple[str, bytes]:
  """Case `index` of a run on a valid version-3 file: (its kind, the file);
  a function of (valid, seed, index) alone."""
  import dataclasses  # pylint: disable=g-import-not-at-top

  rng = np.random.default_rng([seed, index])
  kind = MAP_KINDS[index % len(MAP_KINDS)]
  header, streams = container.unpack_maps(valid)
  streams = list(streams)
  if kind == "bytes":
    mutated = mutate(valid, rng)
    return kind, with_checksum(mutated[:-4]) if rng.random() < 0.5 and len(mutated) > 4 \
        else mutated
  if kind == "name":
    return kind, _name(valid, rng)
  if kind in ("stream_bytes", "stream_cut", "swap") and not streams:
    return kind, valid
  i = int(rng.integers(len(streams))) if streams else 0
  if kind == "stream_bytes":
    streams[i] = _random_bytes(rng, int(rng.integers(0, 2 * len(streams[i]) + 2)))
  elif kind == "stream_cut":
    streams[i] = streams[i][:int(rng.integers(len(streams[i]) + 1))]
  elif kind == "swap":
    j = int(rng.integers(len(streams)))
    streams[i], streams[j] = streams[j], streams[i]
  elif kind == "sent":
    sent = int(rng.integers(0, header.num_maps + 3))
    streams = (streams + [_random_bytes(rng, 3) for _ in range(sent)])[:sent]
    header = dataclasses.replace(header, sent=sent, num_maps=max(header.num_maps, sent))
  elif kind == "num_maps":
    header = dataclasses.replace(header, num_maps=int(rng.integers(header.sent, 1 << 16)))
  elif kind == "size":
    side = lambda: int(rng.choice([1, 2, 15, 16, 17, 255, 4097, 1 << 15]))  # noqa: E731
    header = dataclasses.replace(header, height=side(), width=side())
  elif kind == "declared":
    # Mostly small sizes: a large one decodes where it fits the memory check.
    sizes = MAP_DECLARED_SIZES[:4] if rng.random() < 0.95 else MAP_DECLARED_SIZES[4:]
    height, width = sizes[int(rng.integers(len(sizes)))]
    sent = int(rng.integers(0, header.sent + 1))
    streams = [(b"", _random_bytes(rng, 3))[int(rng.integers(2))] for _ in range(sent)]
    header = dataclasses.replace(header, height=height, width=width, sent=sent)
  else:
    header = dataclasses.replace(header, channels=int(rng.integers(256)))
  return kind, container.pack_maps(header, streams)


def check_map(codec, kind: str, data: bytes) -> str:
  """Runs one case through codec.decompress (a MapCodec); 'refused' or
  'decoded', or AssertionError naming the bug: a decoded file must be the
  model's (its maps and channels) and give an image of the declared size."""
  try:
    recon = codec.decompress(data)
  except BitstreamError:
    return "refused"
  header, _ = container.unpack_maps(data)
  declared = (header.height, header.width, header.channels)
  if header.num_maps != codec.num_maps or header.channels != codec.model.image_channels:
    raise AssertionError(f"{kind}: a header of {header.num_maps} maps of {header.channels} "
                         "channels was decoded")
  if recon.shape != declared or not np.all((recon >= 0) & (recon <= 1)):
    raise AssertionError(f"{kind}: decoded to {recon.shape} (declared {declared}), range "
                         f"[{recon.min()}, {recon.max()}]")
  return "decoded"


def fuzz_maps(codec, valid: bytes, cases: int, seed: int = 0) -> dict[str, int]:
  """Hostile variants of a valid map file through codec.decompress (a
  lic_jax.ohm.codec.MapCodec): each must decode to an image of the
  declared size and channels in [0, 1] or raise BitstreamError."""
  return run_cases(cases, lambda i: map_case(valid, seed, i),
                   lambda kind, data: check_map(codec, kind, data))


# The attacks on split-computing feature files (container version 4).
FEATURE_KINDS = ("bytes", "stream_bytes", "stream_cut", "split", "size", "model", "name")


def feature_case(valid: bytes, seed: int, index: int) -> tuple[str, bytes]:
  """Case `index` of a run on a valid version-4 file: (its kind, the file);
  a function of (valid, seed, index) alone."""
  import dataclasses  # pylint: disable=g-import-not-at-top

  rng = np.random.default_rng([seed, index])
  kind = FEATURE_KINDS[index % len(FEATURE_KINDS)]
  header, stream = container.unpack_features(valid)
  if kind == "bytes":
    mutated = mutate(valid, rng)
    return kind, with_checksum(mutated[:-4]) if rng.random() < 0.5 and len(mutated) > 4 \
        else mutated
  if kind == "name":
    return kind, _name(valid, rng)
  if kind == "stream_bytes":
    stream = _random_bytes(rng, int(rng.integers(0, 2 * len(stream) + 2)))
  elif kind == "stream_cut":
    stream = stream[:int(rng.integers(len(stream) + 1))]
  elif kind == "split":
    split = str(rng.choice(["stem", "layer1[0]", "layer2[2]", "layer3[1]", "layer3[2]",
                            "layer4[0]", "", "x" * 200]))
    header = dataclasses.replace(header, split=split)
  elif kind == "size":
    side = lambda: int(rng.choice([1, 2, 7, 31, 32, 33, 255, 4097, 1 << 15]))  # noqa: E731
    header = dataclasses.replace(header, height=side(), width=side())
  else:
    header = dataclasses.replace(header, model=str(rng.choice(["resnet50", "", "x" * 255])))
  return kind, container.pack_features(header, stream)


def check_features(bank, kind: str, data: bytes, classes: int) -> str:
  """Runs one case through bank.classify (a FeatureBank or a GroupCodec:
  (index, logits), len() indices); 'refused' or 'decoded', or
  AssertionError naming the bug: a decoded file must give finite logits of
  the `classes` classes with an index (unit, profile) of the bank."""
  try:
    k, logits = bank.classify(data)
  except BitstreamError:
    return "refused"
  if not 0 <= k < len(bank) or logits.shape != (classes,) or not np.all(np.isfinite(logits)):
    raise AssertionError(f"{kind}: unit {k}, logits {logits.shape}")
  return "decoded"


def fuzz_features(bank, valid: bytes, cases: int, seed: int = 0) -> dict[str, int]:
  """Hostile variants of a valid feature file through bank.classify (a
  lic_jax.split.codec.FeatureBank, or a
  lic_jax.grouping.codec.GroupCodec: (index, logits), len() indices):
  each must give finite logits of the classifier's classes with an index
  (unit, profile) of the bank, or raise BitstreamError."""
  classes = bank.classify(valid)[1].shape[0]
  return run_cases(cases, lambda i: feature_case(valid, seed, i),
                   lambda kind, data: check_features(bank, kind, data, classes))
