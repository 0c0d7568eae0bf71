r"""Real compression: images to .lic files and back, through the range coder.

Its command: lic_jax.commands.codec (`python -m lic_jax codec --help`).

Without --checkpoint the models bundled with the package are used: a small
bmshj2018 trained on CPU at five lambdas, the quality levels 1 (lowest
rate) to 5 in lic_jax/assets/pretrained/bmshj2018-cpu, level 3 by default.
decompress picks the level that wrote each file (its coding tables' hash is
in the header). DIR is a training run directory, an exported model
directory (`export`: the parameters, the coding tables and the model config
in three files, a few MB, nothing else needed to code) or a folder of
quality levels q1, q2, ... (lic_jax.sweep --export).

In Python:

  codec = Codec.load()                  # the bundled model, quality 3
  codec = Codec.load(quality=1)         # the bundled model of the lowest rate
  codec = Codec.load("runs/bmshj2018")  # a run or an exported model
  data = codec.compress(image)          # (H, W, 3) uint8 or float in [0, 1]
  image = codec.decompress(data)        # (H, W, 3) float32 in [0, 1]
  data = cbanet.compress(image, rate=0)           # a CBANet: its lowest bitrate
  image = cbanet.decompress(data, complexity=1)   # with its first synthesis branch

Any H x W works: the image is edge-padded to the model's multiple inside,
its original size is stored, and the reconstruction is cropped back. The
coding tables are frozen once per checkpoint into DIR/coding_tables.npz
(`freeze`, or on first use) and loaded by both encoder and decoder; the file
carries a hash of them, so a decoder with other tables refuses the file.
"""

import argparse
import json
import os
import sys
import time

import flax
import jax
import numpy as np
import tqdm

from lic_jax import checkpoint as checkpoint_lib
from lic_jax import cli
from lic_jax import files
from lic_jax import image as image_lib
from lic_jax.assets import DEFAULT_FAMILY, DEFAULT_QUALITY, PRETRAINED
from lic_jax.cbanet import codec as cbanet_codec
from lic_jax.coding import container, memory, model_codecs, range_coder, tables
from lic_jax.coding.container import BitstreamError
from lic_jax.coding.tables import TABLES_FILE, TABLES_FORMAT
# Where they were before lic_jax.files and lic_jax.image held them.
from lic_jax.files import check_output_path, config_hash, tables_hash
from lic_jax.image import as_float_image
from lic_jax.models import abstract_params, model_from_spec

# Every model that codes images, by the name the model registry gives it
# (lic_jax.models.registered): the classic models' codecs and CBANet's.
CODECS = {**model_codecs.CODECS, **cbanet_codec.CODECS}

# The largest image a Codec decodes unless told otherwise (max_pixels,
# --max-pixels): 67 MP, so that a 50 MP photo decodes on a machine with a few
# GB free (the bundled model at 67 MP: 2.0 GiB measured, 3.55 GiB estimated
# by Codec.decode_memory) and a 100-byte file cannot ask for more.
DEFAULT_MAX_PIXELS = 1 << 26
# Host bytes per image pixel of the decoded image beyond the synthesis's
# output: its uint8 copy and the image encoder's buffers (the CLI's).
_IMAGE_BYTES_PER_PIXEL = 8
# What a decode takes that does not grow with the image (its compilations,
# the runtime's arenas; lic_jax.coding.memory): measured 13-56 MB beyond
# the counted bytes in decodes of 0.25-1 MP (benchmarks/decode_memory.py).
_DECODE_FIXED_BYTES = 48 << 20

MODEL_FILE = "model.json"
PARAMS_FILE = "params.msgpack"


# Model config fields that name an operating level, not the model.
LEVEL_FIELDS = ("rate", "num_branches")


def model_identity(model_config: dict) -> dict:
  """The model config without its operating level: a model of several levels
  (CBANet) is one model at all of them, whichever its run trained."""
  return {k: v for k, v in model_config.items() if k not in LEVEL_FIELDS}


def is_exported(directory: str) -> bool:
  return os.path.exists(os.path.join(directory, MODEL_FILE))


def quality_levels(directory: str = os.path.join(PRETRAINED, DEFAULT_FAMILY)) -> dict[int, str]:
  """{quality: exported model directory} of a folder of quality levels
  (q1 = the lowest rate, ... qn: the layout of lic_jax.sweep --export);
  {} for any other folder. Default: the bundled family."""
  if not os.path.isdir(directory):
    return {}
  levels = {}
  for name in os.listdir(directory):
    path = os.path.join(directory, name)
    if name[:1] == "q" and name[1:].isdigit() and is_exported(path):
      levels[int(name[1:])] = path
  return dict(sorted(levels.items()))


def level_metadata(directory: str) -> dict:
  """model.json of an exported model, without loading its parameters."""
  with open(os.path.join(directory, MODEL_FILE)) as f:
    return json.load(f)


def level_hashes(directory: str = os.path.join(PRETRAINED, DEFAULT_FAMILY)) -> dict[str, int]:
  """{coding tables hash (hex): quality} of a folder of quality levels."""
  return {level_metadata(path)["tables_hash"]: quality
          for quality, path in quality_levels(directory).items()}


def level_for_file(data: bytes, hashes: dict[str, int]) -> int | None:
  """The quality level (of `hashes`, from level_hashes) whose coding tables
  wrote this .lic file, from its header alone; None if none did."""
  return hashes.get(container.tables_hash(data).hex())


def read_exported(directory: str):
  """(metadata, model, params) of a model written by `Codec.export`."""
  paths = [os.path.join(directory, f) for f in (MODEL_FILE, PARAMS_FILE, TABLES_FILE)]
  missing = [p for p in paths if not os.path.exists(p)]
  if missing:
    raise checkpoint_lib.MissingCheckpointError(
        f"{directory!r} is not an exported model: {', '.join(missing)} missing")
  meta = level_metadata(directory)
  model = model_from_spec(meta["model"])
  abstract = abstract_params(model)
  with open(paths[1], "rb") as f:
    params = flax.serialization.from_bytes(
        jax.tree_util.tree_map(lambda a: np.zeros(a.shape, a.dtype), abstract), f.read())
  return meta, model, params


class Codec:
  """A model with its parameters and frozen coding tables."""

  def __init__(self, model_config: dict, params, arrays: dict[str, np.ndarray]):
    model_config = model_identity(model_config)
    name = model_config["name"]
    if name not in CODECS:
      raise ValueError(f"model {name!r} has no codec; codecs exist for {sorted(CODECS)}")
    self.model_config = model_config
    self.model = model_from_spec(model_config)
    self.impl = CODECS[name](self.model, params, arrays)
    self.impl_arrays = arrays
    self.metadata: dict = {}  # lambda, distortion, training_steps, where known
    self.max_pixels = DEFAULT_MAX_PIXELS
    self.config_hash = config_hash(model_config)
    self.tables_hash = tables_hash(arrays)

  @classmethod
  def from_params(cls, model_config: dict, params) -> "Codec":
    """Freezes the tables in memory (for models that are not on disk)."""
    model_config = model_identity(model_config)
    model = model_from_spec(model_config)
    return cls(model_config, params, CODECS[model_config["name"]].freeze(model, params))

  @classmethod
  def from_checkpoint(cls, workdir: str) -> "Codec":
    """The newest checkpoint of a run directory, with its stored tables."""
    model, params, config, step = checkpoint_lib.load_trained(workdir)
    model_config = config.model.to_dict()
    arrays = load_or_freeze_tables(workdir, model_config["name"], model, params, step)
    codec = cls(model_config, params, arrays)
    codec.metadata = {"lambda": config.lmbda, "distortion": config.distortion,
                      "training_steps": step}
    if config.init_from:
      codec.metadata["init_from"] = config.init_from
    return codec

  @classmethod
  def from_exported(cls, directory: str) -> "Codec":
    """A model written by `export`: model.json, params.msgpack, coding tables."""
    meta, model, params = read_exported(directory)
    with np.load(os.path.join(directory, TABLES_FILE), allow_pickle=False) as stored:
      arrays = {k: v for k, v in stored.items() if not k.startswith("meta/")}
      layout = int(stored["meta/format"]) if "meta/format" in stored else 1
    if layout != TABLES_FORMAT:
      arrays = CODECS[meta["model"]["name"]].freeze(model, params)  # older tables
    codec = cls(meta["model"], params, arrays)
    codec.metadata = meta
    return codec

  @classmethod
  def load(cls, path: str | None = None, quality: int | None = None) -> "Codec":
    """A run directory, an exported model directory, or a folder of quality
    levels (None: the bundled family), from which `quality` picks one
    (1 = the lowest rate; default DEFAULT_QUALITY)."""
    path = path or os.path.join(PRETRAINED, DEFAULT_FAMILY)
    levels = quality_levels(path)
    if levels:
      quality = DEFAULT_QUALITY if quality is None else quality
      if quality not in levels:
        raise ValueError(f"quality {quality} does not exist in {path!r}: it has "
                         f"{', '.join(map(str, levels))}")
      return cls.from_exported(levels[quality])
    if quality is not None:
      raise ValueError(f"quality={quality} picks a level of a folder of quality levels "
                       f"(q1, q2, ...); {path!r} is a single model")
    if is_exported(path):
      return cls.from_exported(path)
    return cls.from_checkpoint(path)

  def export(self, directory: str) -> None:
    """Writes the three files of an exported model (each atomically), with
    this codec's metadata (lambda, training steps, ...) in model.json."""
    os.makedirs(directory, exist_ok=True)
    meta = {**self.metadata, "model": self.model_config,
            "tables_hash": self.tables_hash.hex()}
    write = files.write_atomic
    write(os.path.join(directory, MODEL_FILE),
          json.dumps(meta, indent=2, sort_keys=True).encode())
    write(os.path.join(directory, PARAMS_FILE),
          flax.serialization.to_bytes(jax.device_get(self.impl.params)))
    write(os.path.join(directory, TABLES_FILE),
          files.npz_bytes({**self.impl_arrays, "meta/format": np.array(TABLES_FORMAT)},
                          compressed=True))

  @property
  def name(self) -> str:
    return self.model_config["name"]

  @property
  def num_rates(self) -> int | None:
    """The number of bitrates of a model of several (CBANet), else None."""
    return getattr(self.model, "num_rates", None)

  def level(self, rate: int | None = None, complexity: int | None = None) -> dict:
    """The impl's keyword arguments of a (bitrate index, complexity level K)
    (None: the base bitrate, the highest K); a ValueError naming the
    problem for a level the model lacks."""
    if self.num_rates is None:
      if rate is not None or complexity is not None:
        raise ValueError(f"model {self.name!r} has one bitrate and one complexity level "
                         "(rate and complexity pick the levels of a CBANet)")
      return {}
    rate, complexity = self.model.level(rate, complexity)
    return {"rate": rate, "num_branches": complexity}

  def _header(self, height: int, width: int, rate: int | None = None) -> container.Header:
    """The header of an image of this size; arithmetic only (a file's
    declared size must cost nothing before it is checked)."""
    f = self.model.downsampling
    shapes = self.impl.latent_shapes(-(-height // f) * f, -(-width // f) * f)
    bitrate = None if self.num_rates is None else (rate, self.num_rates)
    return container.Header(self.name, self.config_hash, self.tables_hash, height, width,
                            shapes, bitrate)

  def latent_shapes(self, height: int, width: int) -> dict[str, tuple[int, ...]]:
    """The latent table of an image of this size, in the file's order."""
    return self._header(height, width).latent_shapes

  def decode_memory(self, height: int, width: int, rate: int | None = None,
                    complexity: int | None = None) -> int:
    """About the bytes that decoding an image of this size (at a CBANet's
    bitrate and complexity level) takes beyond the loaded model
    (lic_jax.coding.memory); arithmetic only once the programs' sizes are
    known."""
    footprint = self.impl.decode_footprint(self.latent_shapes(height, width),
                                           **self.level(rate, complexity))
    return (footprint + memory.Footprint(host=_IMAGE_BYTES_PER_PIXEL * height * width,
                                         fixed=_DECODE_FIXED_BYTES)).needed()

  def _check_decodable(self, header: container.Header, complexity: int | None = None
                       ) -> tuple[dict[str, tuple[int, ...]], dict]:
    """(the latent shapes of the file, the impl's level arguments), once the
    file is known to be this model's, its latents exactly as this model lays
    them out, its size within max_pixels and its decode (at K = complexity
    branches of a CBANet) within this machine's memory."""
    container.check_origin(header, self.name, self.config_hash, self.tables_hash,
                           owner="this decoder's",
                           hint=f"another checkpoint or quality level of {self.name!r}")
    if (header.bitrate is None) != (self.num_rates is None):
      raise BitstreamError(
          f"this file {'has no' if header.bitrate is None else 'has a'} bitrate index, "
          f"but the decoder {self.name!r} is a model of "
          f"{'one bitrate' if self.num_rates is None else 'several'}")
    if header.bitrate is not None and header.bitrate[1] != self.num_rates:
      raise BitstreamError(
          f"this file was coded at bitrate {header.bitrate[0]} of a model of "
          f"{header.bitrate[1]} bitrates; the decoder has {self.num_rates}")
    h, w = header.height, header.width
    rate = None if header.bitrate is None else header.bitrate[0]
    level = self.level(rate, complexity)
    memory.check(h, w, lambda: self.decode_memory(h, w, rate, complexity), self.max_pixels)
    expected = self.latent_shapes(h, w)
    if list(header.latent_shapes.items()) != list(expected.items()):
      raise BitstreamError(f"latent table {list(header.latent_shapes.items())} is not "
                           f"{list(expected.items())}, {self.name}'s for a {h}x{w} image")
    return expected, level

  def encode_with_latents(self, images: np.ndarray, rate: int | None = None
                          ) -> list[tuple[bytes, dict]]:
    """Compresses a batch (B, H, W, 3) of same-size images (at bitrate index
    `rate` of a CBANet, default its base); also returns the quantized
    latents that were coded."""
    level = self.level(rate)
    level.pop("num_branches", None)
    images = np.asarray(images)
    if images.ndim != 4:
      raise ValueError(f"expected a batch (B, H, W, 3), got {images.shape}")
    batch = np.stack([as_float_image(img) for img in images])
    height, width = batch.shape[1:3]
    if not (height <= container.MAX_SIDE and width <= container.MAX_SIDE):
      raise ValueError(f"image {height}x{width} exceeds the format's "
                       f"{container.MAX_SIDE} pixels per side")
    header = self._header(height, width, level.get("rate"))
    padded = image_lib.pad_to_multiple(batch, self.model.downsampling)
    return [(container.pack(header, streams), latents)
            for streams, latents in self.impl.encode(padded, **level)]

  def compress(self, image: np.ndarray, rate: int | None = None) -> bytes:
    return self.encode_with_latents(np.asarray(image)[None], rate)[0][0]

  def compress_batch(self, images: np.ndarray, rate: int | None = None) -> list[bytes]:
    return [data for data, _ in self.encode_with_latents(images, rate)]

  def decode_with_latents(self, data: bytes, complexity: int | None = None
                          ) -> tuple[np.ndarray, dict]:
    """Decompresses a .lic byte string (with K = `complexity` branches of a
    CBANet, default all); also returns the decoded latents."""
    header, streams = container.unpack(data)
    shapes, level = self._check_decodable(header, complexity)
    try:
      x_hat, latents = self.impl.decode(streams, shapes, **level)
    except MemoryError as e:
      raise BitstreamError(self._out_of_memory(header)) from e
    except jax.errors.JaxRuntimeError as e:
      if "RESOURCE_EXHAUSTED" not in str(e):
        raise
      raise BitstreamError(self._out_of_memory(header)) from e
    # A hostile payload can decode to huge latents and non-finite pixels;
    # in place, a large image is not copied twice more.
    image = x_hat[:header.height, :header.width]
    np.nan_to_num(image, copy=False, nan=0.0, posinf=1.0, neginf=0.0)
    np.clip(image, 0.0, 1.0, out=image)
    return image, latents

  def _out_of_memory(self, header: container.Header) -> str:
    h, w = header.height, header.width
    rate = None if header.bitrate is None else header.bitrate[0]
    return (f"out of memory decoding a {h}x{w} image (about "
            f"{self.decode_memory(h, w, rate) / 2**30:.1f} GiB needed)")

  def decompress(self, data: bytes, complexity: int | None = None) -> np.ndarray:
    return self.decode_with_latents(data, complexity)[0]


def load_or_freeze_tables(workdir: str, name: str, model, params, step: int,
                          freeze=None) -> dict[str, np.ndarray]:
  """lic_jax.coding.tables.load_or_freeze, by default with the freeze of
  the model's codec."""
  if freeze is None:
    if name not in CODECS:
      raise ValueError(f"model {name!r} has no codec; codecs exist for {sorted(CODECS)}")
    freeze = CODECS[name].freeze
  return tables.load_or_freeze(workdir, freeze, model, params, step)


def _bpp(data: bytes, height: int, width: int) -> float:
  return 8.0 * len(data) / (height * width)


def plan(command: str, inputs: list[str], output: str, force: bool = False,
         skip_existing: bool = False) -> tuple[list[tuple[str, str]], bool, int]:
  """The (input, output) files of a compress/decompress call, whether it is
  a batch and how many inputs it skips, every path checked before any work.

  One input file and an output that is not a folder: that file. Otherwise
  (several inputs, a folder of images or .lic files among them, or an
  existing folder as output) each input is written into the output folder
  (created if missing) as <name>.lic, or <name>.png when decompressing.
  An existing output is refused unless `force` (rewritten) or, in a batch,
  `skip_existing` (its input left out: a re-run codes what is missing).
  """
  suffix = ".lic" if command == "compress" else ".png"
  batch = len(inputs) > 1 or os.path.isdir(output) or any(map(os.path.isdir, inputs))
  if not batch:
    pairs = [(inputs[0], output)]
  else:
    files = []
    for path in inputs:
      if not os.path.isdir(path):
        files.append(path)
        continue
      found = (image_lib.list_images(path) if command == "compress" else
               sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith(".lic")))
      if not found:
        raise ValueError(f"no {'images' if command == 'compress' else '.lic files'} in "
                         f"{path!r}")
      files += found
    if os.path.exists(output) and not os.path.isdir(output):
      raise ValueError(f"with several inputs the output {output!r} must be a folder")
    if not os.path.isdir(os.path.dirname(os.path.abspath(output))):
      raise ValueError(f"output folder {os.path.abspath(output)!r} cannot be created: its "
                       "parent does not exist")
    pairs, seen = [], {}
    for path in files:
      stem = os.path.splitext(os.path.basename(path))[0]
      target = os.path.join(output, stem + suffix)
      if target in seen:
        raise ValueError(f"{seen[target]!r} and {path!r} would both be written to {target!r}")
      seen[target] = path
      pairs.append((path, target))
  if skip_existing and not batch:
    raise ValueError("--skip-existing applies to a batch (an output folder)")
  new_folder = batch and not os.path.isdir(output)  # nothing in it to overwrite
  todo = []
  for source, target in pairs:
    if not os.path.isfile(source):
      raise FileNotFoundError(f"input {source!r} does not exist")
    if not new_folder:
      check_output_path(target, [source], image=command == "decompress",
                        coded=command == "compress")
      if os.path.exists(target) and not force:
        if skip_existing:
          continue
        raise ValueError(f"output {target!r} exists; --force overwrites it"
                         + (", --skip-existing codes only what is missing" if batch else ""))
    todo.append((source, target))
  if batch:
    os.makedirs(output, exist_ok=True)
  return todo, batch, len(pairs) - len(todo)


def _compress_file(codec: Codec, source: str, target: str, rate: int | None) -> str:
  image = image_lib.read_rgb_uint8(source)
  profile = image_lib.color_profile(source)
  if profile:
    tqdm.tqdm.write(f"warning: {source}: its ICC colour profile {profile!r} is not kept: the "
                    "file codes the stored pixel values, and its decode, with no profile, "
                    "shows as sRGB", file=sys.stderr)
  start = time.perf_counter()
  data = codec.compress(image, rate)
  encode_s = time.perf_counter() - start
  files.write_atomic(target, data)
  h, w = image.shape[:2]
  return (f"{source} ({w}x{h}) -> {target}: {len(data)} bytes, bpp={_bpp(data, h, w):.4f}, "
          f"encode {encode_s:.3f} s")


def _decompress_file(codec: Codec, data: bytes, source: str, target: str,
                     original: str | None, complexity: int | None) -> str:
  from lic_jax import metrics  # pylint: disable=g-import-not-at-top

  if original:
    # Both sizes are known from the headers: a mismatch is refused before decoding.
    header, _ = container.unpack(data)
    height, width = image_lib.image_size(original)
    if (height, width) != (header.height, header.width):
      raise ValueError(f"original {original!r} is {width}x{height}, the file "
                       f"{header.width}x{header.height}")
  start = time.perf_counter()
  recon = codec.decompress(data, complexity)
  decode_s = time.perf_counter() - start
  image_lib.write_image(target, recon)
  h, w = recon.shape[:2]
  line = (f"{source} -> {target} ({w}x{h}): bpp={_bpp(data, h, w):.4f}, "
          f"decode {decode_s:.3f} s")
  if original:
    reference = image_lib.read_image(original)
    decoded = image_lib.to_uint8(recon).astype(np.float32) / 255.0
    line += f", PSNR={float(metrics.psnr(reference[None], decoded[None])[0]):.2f} dB"
  return line


def list_models(directory: str) -> str:
  """The table `codec models` prints: each quality level of a folder of
  levels with its lambda, training and stored evaluation, and the sizes."""
  levels = quality_levels(directory)
  if not levels:
    raise ValueError(f"{directory!r} holds no quality levels (q1, q2, ... exported models)")
  rows, total = [], 0
  for quality, path in levels.items():
    meta = level_metadata(path)
    size = sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))
    total += size
    steps = f"{meta.get('training_steps', '?')}"
    if meta.get("init_from"):
      steps += f" from {meta['init_from']}"
    ev = meta.get("evaluation")
    scores = ("no evaluation stored" if not ev else
              f"{ev['bpp']:<8.4f}{ev['psnr']:<8.2f}" +
              ("n/a" if ev.get("ms_ssim") is None else f"{ev['ms_ssim']:.4f}"))
    default = "  (default)" if (directory == os.path.join(PRETRAINED, DEFAULT_FAMILY) and
                                quality == DEFAULT_QUALITY) else ""
    rows.append(f"{quality:<9}{meta.get('lambda', float('nan')):<8g}{steps:<13}"
                f"{size / 2**20:<6.1f}{scores}{default}")
  first = level_metadata(levels[min(levels)])
  spec = first["model"]
  ev = first.get("evaluation") or {}
  head = (f"{directory}: {spec['name']} "
          f"({', '.join(f'{k}={v}' for k, v in spec.items() if k != 'name')}), "
          f"{len(levels)} quality levels, {total / 2**20:.1f} MiB\n"
          f"{'':<36}{ev.get('data', '')} ({ev.get('images', '?')} images, real files)\n"
          f"{'quality':<9}{'lambda':<8}{'steps':<13}{'MiB':<6}{'bpp':<8}{'PSNR':<8}MS-SSIM")
  return "\n".join([head, *rows])


def run(args: argparse.Namespace) -> None:
  """The command (lic_jax.commands.codec), its arguments parsed."""
  cli.enable_compilation_cache()
  try:
    if args.command == "models":
      print(list_models(args.checkpoint))
      return
    if args.command in ("compress", "decompress"):
      if len(args.paths) < 2:
        raise ValueError(f"{args.command} needs an input and an output")
      *inputs, output = args.paths
      pairs, batch, skipped = plan(args.command, inputs, output, args.force,
                                   args.skip_existing)
      original = getattr(args, "original", None)
      if original and batch:
        raise ValueError("--original needs a single input file")
      if original:
        check_output_path(output, [original], image=True)
    if args.command in ("freeze", "export"):
      codec = Codec.from_checkpoint(args.checkpoint)
    if args.command == "freeze":
      print(f"coding tables of {args.checkpoint} ({codec.name}): "
            f"hash {codec.tables_hash.hex()} in {os.path.join(args.checkpoint, TABLES_FILE)}")
      return
    if args.command == "export":
      codec.export(args.output)
      size = sum(os.path.getsize(os.path.join(args.output, f))
                 for f in (MODEL_FILE, PARAMS_FILE, TABLES_FILE))
      print(f"exported {codec.name} (step {codec.metadata['training_steps']}) to "
            f"{args.output}: {size / 2**20:.2f} MiB")
      return
    with range_coder.use_coder(args.range_coder):
      codecs, load_s = {}, 0.0

      def codec_for(quality):
        nonlocal load_s
        if quality not in codecs:
          start = time.perf_counter()
          codecs[quality] = Codec.load(args.checkpoint or None, quality)
          if getattr(args, "max_pixels", None) is not None:
            codecs[quality].max_pixels = args.max_pixels
          load_s += time.perf_counter() - start
        return codecs[quality]

      # Without a level named, a file decodes with the level that wrote it
      # (of the bundled ones, or of --checkpoint's folder of levels).
      levels_dir = args.checkpoint or os.path.join(PRETRAINED, DEFAULT_FAMILY)
      hashes = level_hashes(levels_dir) if args.command == "decompress" else {}
      detect = args.quality is None and bool(hashes)
      if not detect:
        codec_for(args.quality)
      start = time.perf_counter()
      progress = tqdm.tqdm(pairs, unit="file", disable=not batch, file=sys.stderr)
      failed = []
      for source, target in progress:
        try:
          if args.command == "compress":
            line = _compress_file(codec_for(args.quality), source, target, args.rate)
          else:
            with open(source, "rb") as f:
              data = f.read()
            written = level_for_file(data, hashes)
            if not detect and written not in (None, args.quality):
              raise BitstreamError(f"this file was written by quality {written}: decode it "
                                   f"with --quality {written}, or without --quality")
            codec = codec_for(written if detect else args.quality)
            line = _decompress_file(codec, data, source, target, original, args.complexity)
        except (BitstreamError, ValueError, OSError) as e:  # ImageReadError is a ValueError
          # One file's problem: named in one line; a batch goes on with the
          # others (each output is written whole or not at all).
          if not batch:
            raise
          failed.append(source)
          message = str(e) if source in str(e) else f"{source}: {e}"
          progress.write(f"error: {message}", file=sys.stderr)
          continue
        progress.write(line if batch else f"{line} (model load {load_s:.2f} s)", file=sys.stdout)
      if batch:
        print(f"{len(pairs) - len(failed)} files in {time.perf_counter() - start:.2f} s "
              f"(model load {load_s:.2f} s) -> {output}"
              + (f", {skipped} skipped (their outputs exist)" if skipped else ""))
      if failed:
        sys.exit(f"error: {len(failed)} of {len(pairs)} files failed, the others are "
                 f"written; fix or remove those and re-run with --skip-existing")
  except (BitstreamError, FileNotFoundError, ValueError, OSError) as e:
    sys.exit(f"error: {e}")


if __name__ == "__main__":
  # The command's arguments and usage are its front's.
  cli.run_as_main("lic_jax.commands.codec")
