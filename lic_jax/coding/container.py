"""The .lic file format (versions 1 and 2). All integers are little-endian.

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

The decoder refuses a file before allocating anything for it when the magic,
version, sizes, checksum or lengths are wrong or a latent is listed twice,
and names both models when the file was made by a model other than the one
decoding it. (The codec then requires the latent table to be exactly its
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
# Refuse images larger than this before allocating (~ 2^15 x 2^15 pixels).
MAX_SIDE = 1 << 15
MAX_PIXELS = 1 << 28
_MAX_DIMS = 4


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
  out += struct.pack("<BB", version, len(model)) + model.encode("ascii")
  out += config_hash + tables_hash
  if bitrate is not None:
    out += struct.pack("<BB", *bitrate)
  out += struct.pack("<IIB", height, width, len(table))
  for name, shape in table:
    out += struct.pack("<B", len(name)) + name.encode("ascii")
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


def _check_version(version: int) -> None:
  if version not in VERSIONS:
    raise BitstreamError(f"unsupported format version {version} (this build reads "
                         f"versions {', '.join(map(str, VERSIONS))})")


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


def unpack(data: bytes) -> tuple[Header, list[bytes]]:
  """Parses and validates a .lic file; raises BitstreamError naming the problem."""
  if not isinstance(data, (bytes, bytearray, memoryview)):
    raise TypeError(f"expected bytes, got {type(data).__name__}")
  data = bytes(data)
  if len(data) == 0:
    raise BitstreamError("empty file")
  if not data.startswith(MAGIC):
    raise BitstreamError(f"not a lic_jax file: magic {data[:4]!r}, expected {MAGIC!r}")
  if len(data) < len(MAGIC) + 2 + 4:
    raise BitstreamError(f"truncated file: {len(data)} bytes")
  version = data[4]
  _check_version(version)
  (crc,) = struct.unpack("<I", data[-4:])
  if zlib.crc32(data[:-4]) != crc:
    raise BitstreamError("checksum mismatch: the file is truncated or corrupt")

  r = _Reader(data, len(data) - 4)
  r.take(5, "magic/version")
  (n,) = r.unpack("B", "model name length")
  model = r.take(n, "model name").decode("ascii", errors="replace")
  config_hash = r.take(8, "config hash")
  tables_hash = r.take(8, "tables hash")
  bitrate = None
  if version == VERSION_WITH_BITRATE:
    bitrate = r.unpack("BB", "bitrate")
    if not bitrate[0] < bitrate[1]:
      raise BitstreamError(f"bitrate index {bitrate[0]} of a model of {bitrate[1]} "
                           "bitrates: the header is corrupt")
  height, width, num_latents = r.unpack("IIB", "image size")
  if not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE and height * width <= MAX_PIXELS):
    raise BitstreamError(f"implausible image size {height}x{width} "
                         f"(at most {MAX_SIDE} per side, {MAX_PIXELS} pixels)")
  shapes = {}
  for _ in range(num_latents):
    (length,) = r.unpack("B", "latent name length")
    name = r.take(length, "latent name").decode("ascii", errors="replace")
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
