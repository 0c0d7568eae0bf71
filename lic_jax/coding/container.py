"""The .lic file format (versions 1 to 4). All integers are little-endian.

  offset  size   field
  0       4      magic b"LICJ"
  4       1      format version (1, or 2 for a model of several bitrates)
  5       1      n = length of the model name
  6       n      model name, ASCII (e.g. "bmshj2018")
  .       8      config hash: sha256 of the model config (name + widths), first 8 bytes
  .       8      tables hash: sha256 of the frozen coding tables, first 8 bytes
  .       2      version 2 only: the bitrate index j (u8) the image was coded at,
                 and the number of bitrates of the model (u8), j < that number
  .       4      image height (u32), then 4: image width (u32), before padding
  .       1      K = number of latents; then for each latent:
                   1 name length, name (ASCII), 1 ndim, ndim x u32 dims
  .       K x 4  byte length of each latent's stream (u32), in latent order
  .       ...    the K range-coded streams, concatenated
  end-4   4      CRC-32 of every byte before it

Version 3 holds truncatable map streams (the rate-adaptive OHM / INT
autoencoders, lic_jax.ohm.codec): one stream per feature map, in map
order, so that dropping the last streams and rewriting the count (and the
checksum) leaves a valid file of fewer maps:

  0       4      magic b"LICJ"
  4       1      format version 3
  5       1      n = length of the model name, then n: the name
  .       8      config hash, then 8: tables hash (as above)
  .       4      image height (u32), 4: image width (u32), 1: image channels (u8)
  .       2      C_Z, the model's number of maps (u16)
  .       2      m = the maps sent (u16), m <= C_Z; the others are masked
  .       ...    byte length of each map's stream, in map order, as LEB128
                 varints (1 byte below 128, at most 5; a 28x28 digit's streams
                 are a few bytes each, where u32s would double the file)
  .       ...    the m streams, concatenated
  end-4   4      CRC-32 of every byte before it

Version 4 holds the quantized features of a split classifier's bottleneck
unit (lic_jax.split.codec): one range-coded stream whose first
symbol is the unit's index among the K units of its bank (coded uniformly:
log2 K bits, the paper's ceil(log2 K) rounded by the coder), the unit's
symbols after it:

  0       4      magic b"LICJ"
  4       1      format version 4
  5       1      n = length of the backbone's name, then n: the name
  .       8      config hash of the bank, then 8: its tables hash
  .       1      m = length of the split point's name, then m: the name
                 (ASCII, e.g. "layer3[1]"); the unit must sit there
  .       4      image height (u32), 4: image width (u32)
  .       ...    the stream
  end-4   4      CRC-32 of every byte before it

Every name (a model's, a latent's, a split point's) is 1 to MAX_NAME = 64
printable ASCII characters, no space. The decoder refuses a file before
allocating anything for it when the magic, version, sizes, checksum,
lengths or a name are wrong or a latent is listed twice, and names both
models when the file was made by a model other than the one decoding it. (The codec then requires the latent table to be exactly its
model's: the same names in the same order, with the shapes of the declared
image size; and the image within its memory limit, see Codec.max_pixels.)
"""

import dataclasses
import struct
import zlib

MAGIC = b"LICJ"
VERSION = 1
# Version 2 is version 1 with the bitrate field (CBANet's bitrate index).
VERSION_WITH_BITRATE = 2
VERSIONS = (VERSION, VERSION_WITH_BITRATE)
# Version 3: map streams (MapHeader), read by unpack_maps alone.
VERSION_MAPS = 3
# Version 4: split-computing features (FeatureHeader), read by unpack_features.
VERSION_FEATURES = 4
# Which reader each kind of file needs, for the error that names it.
_READERS = {VERSION_MAPS: "a file of truncatable map streams (version 3, an OHM / INT "
                          "autoencoder's): decode it with lic_jax.ohm",
            VERSION_FEATURES: "a file of split-computing features (version 4, a bottleneck "
                              "unit's): classify it with lic_jax.split"}
# Refuse images larger than this before allocating (~ 2^15 x 2^15 pixels).
MAX_SIDE = 1 << 15
MAX_PIXELS = 1 << 28
_MAX_DIMS = 4
# Text fields (model, latent and split point names): 1 to MAX_NAME bytes,
# each printable ASCII without the space (e.g. "bmshj2018", "layer3[1]").
MAX_NAME = 64
NAME_BYTES = (0x21, 0x7E)


class BitstreamError(ValueError):
  """The bytes are not a valid .lic file for this model."""


@dataclasses.dataclass(frozen=True)
class Header:
  model: str
  config_hash: bytes
  tables_hash: bytes
  height: int
  width: int
  latent_shapes: dict[str, tuple[int, ...]]
  # (bitrate index j, number of bitrates) of a model of several bitrates.
  bitrate: tuple[int, int] | None = None


def pack(header: Header, streams: list[bytes]) -> bytes:
  return pack_fields(header.model, header.config_hash, header.tables_hash, header.height,
                     header.width, list(header.latent_shapes.items()), streams,
                     header.bitrate)


def pack_fields(model: str, config_hash: bytes, tables_hash: bytes, height: int, width: int,
                table: list[tuple[str, tuple[int, ...]]], streams: list[bytes],
                bitrate: tuple[int, int] | None = None) -> bytes:
  """The file of these fields, written as given: the latent table is a list,
  so that tests and the fuzzer can also write the tables a decoder must refuse
  (and bitrate fields, u8 each, that it must refuse)."""
  if len(streams) != len(table):
    raise ValueError("one stream per latent")
  out = bytearray(MAGIC)
  version = VERSION if bitrate is None else VERSION_WITH_BITRATE
  out += struct.pack("<B", version) + _name_field(model)
  out += config_hash + tables_hash
  if bitrate is not None:
    out += struct.pack("<BB", *bitrate)
  out += struct.pack("<IIB", height, width, len(table))
  for name, shape in table:
    out += _name_field(name)
    out += struct.pack(f"<B{len(shape)}I", len(shape), *shape)
  out += struct.pack(f"<{len(streams)}I", *(len(s) for s in streams))
  for s in streams:
    out += s
  out += struct.pack("<I", zlib.crc32(out))
  return bytes(out)


class _Reader:
  def __init__(self, data: bytes, end: int):
    self.data, self.pos, self.end = data, 0, end

  def take(self, n: int, what: str) -> bytes:
    if self.pos + n > self.end:
      raise BitstreamError(f"truncated file: {what} is cut off at byte {self.end}")
    chunk = self.data[self.pos:self.pos + n]
    self.pos += n
    return chunk

  def unpack(self, fmt: str, what: str):
    return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))

  def name(self, what: str) -> str:
    """A text field (u8 length, then the text), refused unless a name."""
    (length,) = self.unpack("B", f"{what} length")
    raw = self.take(length, what)
    if not (0 < length <= MAX_NAME and all(NAME_BYTES[0] <= b <= NAME_BYTES[1] for b in raw)):
      raise BitstreamError(f"the {what} {raw!r} is not a name (1 to {MAX_NAME} printable "
                           "ASCII characters): the header is corrupt")
    return raw.decode("ascii")


def _check_version(version: int, versions: tuple[int, ...] = VERSIONS) -> None:
  if version in versions:
    return
  if version in _READERS:
    raise BitstreamError(_READERS[version])
  if version in VERSIONS:
    raise BitstreamError(f"a file of an image codec (version {version}), not "
                         f"{'of map streams' if versions == (VERSION_MAPS,) else 'of features'}"
                         ": decode it with lic_jax.codec")
  raise BitstreamError(f"unsupported format version {version} (this build reads versions "
                       f"{', '.join(map(str, (*VERSIONS, VERSION_MAPS, VERSION_FEATURES)))})")


def tables_hash(data: bytes) -> bytes:
  """The tables hash of a .lic file's header, read without the checksum or
  the streams (to pick the model that decodes it; unpack validates the rest)."""
  r = _Reader(bytes(data[:len(MAGIC) + 2 + 255 + 16]), len(data))
  if r.take(len(MAGIC), "magic") != MAGIC:
    raise BitstreamError(f"not a lic_jax file: magic {bytes(data[:4])!r}, expected {MAGIC!r}")
  (version, n) = r.unpack("BB", "version")
  _check_version(version)
  r.take(n + 8, "model name")
  return r.take(8, "tables hash")


def _open(data, versions: tuple[int, ...]) -> tuple[_Reader, int, str, bytes, bytes]:
  """(a reader after the hashes, version, model name, config hash, tables
  hash) of a file of one of `versions` whose checksum is sound."""
  data = _check_envelope(data)
  version = data[4]
  _check_version(version, versions)
  (crc,) = struct.unpack("<I", data[-4:])
  if zlib.crc32(data[:-4]) != crc:
    raise BitstreamError("checksum mismatch: the file is truncated or corrupt")
  r = _Reader(data, len(data) - 4)
  r.take(5, "magic/version")
  model = r.name("model name")
  return r, version, model, r.take(8, "config hash"), r.take(8, "tables hash")


def _check_size(height: int, width: int) -> None:
  if not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE and height * width <= MAX_PIXELS):
    raise BitstreamError(f"implausible image size {height}x{width} "
                         f"(at most {MAX_SIDE} per side, {MAX_PIXELS} pixels)")


def unpack(data: bytes) -> tuple[Header, list[bytes]]:
  """Parses and validates a .lic file; raises BitstreamError naming the problem."""
  r, version, model, config_hash, tables_hash = _open(data, VERSIONS)
  bitrate = None
  if version == VERSION_WITH_BITRATE:
    bitrate = r.unpack("BB", "bitrate")
    if not bitrate[0] < bitrate[1]:
      raise BitstreamError(f"bitrate index {bitrate[0]} of a model of {bitrate[1]} "
                           "bitrates: the header is corrupt")
  height, width, num_latents = r.unpack("IIB", "image size")
  _check_size(height, width)
  shapes = {}
  for _ in range(num_latents):
    name = r.name("latent name")
    (ndim,) = r.unpack("B", "latent rank")
    if ndim > _MAX_DIMS:
      raise BitstreamError(f"latent {name!r} has implausible rank {ndim}")
    if name in shapes:
      raise BitstreamError(f"latent {name!r} is listed twice")
    shapes[name] = tuple(r.unpack(f"{ndim}I", "latent shape"))
  lengths = r.unpack(f"{num_latents}I", "stream lengths")
  if r.pos + sum(lengths) != r.end:
    raise BitstreamError(f"stream lengths {list(lengths)} do not add up to the "
                         f"{r.end - r.pos} payload bytes")
  streams = [r.take(length, "stream") for length in lengths]
  header = Header(model, config_hash, tables_hash, height, width, shapes, bitrate)
  return header, streams


@dataclasses.dataclass(frozen=True)
class MapHeader:
  """The header of a version-3 file (see the module docstring)."""

  model: str
  config_hash: bytes
  tables_hash: bytes
  height: int
  width: int
  channels: int
  num_maps: int
  sent: int


def pack_maps(header: MapHeader, streams: list[bytes]) -> bytes:
  """The version-3 file of one stream per sent map."""
  if len(streams) != header.sent:
    raise ValueError(f"{len(streams)} streams for {header.sent} maps sent")
  out = bytearray(MAGIC)
  out += struct.pack("<B", VERSION_MAPS) + _name_field(header.model)
  out += header.config_hash + header.tables_hash
  out += struct.pack("<IIBHH", header.height, header.width, header.channels,
                     header.num_maps, header.sent)
  for s in streams:
    out += varint(len(s))
  for s in streams:
    out += s
  out += struct.pack("<I", zlib.crc32(out))
  return bytes(out)


def _name_field(name: str) -> bytes:
  """A text field as written: u8 length, then the ASCII text. Writes what a
  reader refuses too (empty, long, unprintable: tests and the fuzzer make
  such headers), but not what the field cannot hold."""
  raw = name.encode("ascii")
  if len(raw) > 255:
    raise ValueError(f"a name of {len(raw)} bytes does not fit a header field (255 at most)")
  return struct.pack("<B", len(raw)) + raw


def varint(value: int) -> bytes:
  """LEB128: 7 bits a byte, low first, the high bit set on all but the last."""
  out = bytearray()
  while True:
    byte, value = value & 0x7F, value >> 7
    out.append(byte | (0x80 if value else 0))
    if not value:
      return bytes(out)


_MAX_VARINT_BYTES = 5  # a u32


def _read_varint(r: "_Reader", what: str) -> int:
  value = 0
  for i in range(_MAX_VARINT_BYTES):
    (byte,) = r.take(1, what)
    value |= (byte & 0x7F) << (7 * i)
    if not byte & 0x80:
      return value
  raise BitstreamError(f"{what}: a length longer than {_MAX_VARINT_BYTES} bytes")


def _check_envelope(data) -> bytes:
  """The bytes of a file whose magic, version and checksum are sound."""
  if not isinstance(data, (bytes, bytearray, memoryview)):
    raise TypeError(f"expected bytes, got {type(data).__name__}")
  data = bytes(data)
  if len(data) == 0:
    raise BitstreamError("empty file")
  if not data.startswith(MAGIC):
    raise BitstreamError(f"not a lic_jax file: magic {data[:4]!r}, expected {MAGIC!r}")
  if len(data) < len(MAGIC) + 2 + 4:
    raise BitstreamError(f"truncated file: {len(data)} bytes")
  return data


def unpack_maps(data: bytes) -> tuple[MapHeader, list[bytes]]:
  """Parses and validates a version-3 file; BitstreamError naming the problem."""
  r, _, model, config_hash, tables_hash_ = _open(data, (VERSION_MAPS,))
  height, width, channels, num_maps, sent = r.unpack("IIBHH", "image size and maps")
  _check_size(height, width)
  if sent > num_maps:
    raise BitstreamError(f"{sent} maps sent of a model of {num_maps}: the header is corrupt")
  lengths = [_read_varint(r, "stream lengths") for _ in range(sent)]
  if r.pos + sum(lengths) != r.end:
    raise BitstreamError(f"stream lengths of {sent} maps do not add up to the "
                         f"{r.end - r.pos} payload bytes")
  streams = [r.take(length, "stream") for length in lengths]
  return MapHeader(model, config_hash, tables_hash_, height, width, channels, num_maps,
                   sent), streams


def truncate_maps(data: bytes, maps: int) -> bytes:
  """The file of the first `maps` maps of a version-3 file, without
  re-encoding: the later streams dropped, the count and checksum rewritten."""
  header, streams = unpack_maps(data)
  if not 0 <= maps <= header.sent:
    raise ValueError(f"cannot truncate a file of {header.sent} maps to {maps} maps "
                     f"(0..{header.sent})")
  return pack_maps(dataclasses.replace(header, sent=maps), streams[:maps])


def check_origin(header, model: str, config_hash: bytes, tables_hash: bytes,
                 maker: str = "another model", owner: str = "this model's",
                 hint: str = "another checkpoint") -> None:
  """Refuses (BitstreamError, naming both) a file whose header names another
  model, another configuration of the same model (both made by `maker`), or
  other coding tables than the decoder's (`owner`'s; `hint` says where such
  tables come from)."""
  if header.model != model:
    raise BitstreamError(f"the file was made by {maker}: {header.model!r}, where this "
                         f"decoder is {model!r}")
  if header.config_hash != config_hash:
    raise BitstreamError(f"the file was made by {maker}: {model!r} with other widths or "
                         f"settings (config {header.config_hash.hex()}; this decoder's is "
                         f"{config_hash.hex()})")
  if header.tables_hash != tables_hash:
    raise BitstreamError(f"the file was coded with other coding tables "
                         f"({header.tables_hash.hex()}) than {owner} ({tables_hash.hex()}): "
                         f"{hint}")


@dataclasses.dataclass(frozen=True)
class FeatureHeader:
  """The header of a version-4 file (see the module docstring)."""

  model: str
  config_hash: bytes
  tables_hash: bytes
  split: str
  height: int
  width: int


def pack_features(header: FeatureHeader, stream: bytes) -> bytes:
  """The version-4 file of one feature stream."""
  out = bytearray(MAGIC)
  out += struct.pack("<B", VERSION_FEATURES) + _name_field(header.model)
  out += header.config_hash + header.tables_hash
  out += _name_field(header.split)
  out += struct.pack("<II", header.height, header.width)
  out += stream
  out += struct.pack("<I", zlib.crc32(out))
  return bytes(out)


def unpack_features(data: bytes) -> tuple[FeatureHeader, bytes]:
  """Parses and validates a version-4 file; BitstreamError naming the problem."""
  r, _, model, config_hash, tables_hash_ = _open(data, (VERSION_FEATURES,))
  split = r.name("split point name")
  height, width = r.unpack("II", "image size")
  _check_size(height, width)
  stream = r.take(r.end - r.pos, "stream")
  return FeatureHeader(model, config_hash, tables_hash_, split, height, width), stream
