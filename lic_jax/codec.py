r"""Real compression: images to .lic files and back, through the range coder.

  python -m lic_jax.codec compress IN.png OUT.lic [--checkpoint DIR]
  python -m lic_jax.codec decompress OUT.lic RECON.png [--checkpoint DIR] [--original IN.png]
  python -m lic_jax.codec freeze --checkpoint DIR
  python -m lic_jax.codec export --checkpoint DIR --output MODEL_DIR

Without --checkpoint the model bundled with the package is used (a small
bmshj2018 trained on CPU, lic_jax/assets/pretrained/bmshj2018-cpu). DIR is
a training run directory or an exported model directory (`export`: the
parameters, the coding tables and the model config in three files, a few MB,
nothing else needed to code).

In Python:

  codec = Codec.load()                  # the bundled model
  codec = Codec.load("runs/bmshj2018")  # a run or an exported model
  data = codec.compress(image)          # (H, W, 3) uint8 or float in [0, 1]
  image = codec.decompress(data)        # (H, W, 3) float32 in [0, 1]

Any H x W works: the image is edge-padded to the model's multiple inside,
its original size is stored, and the reconstruction is cropped back. The
coding tables are frozen once per checkpoint into DIR/coding_tables.npz
(`freeze`, or on first use) and loaded by both encoder and decoder; the file
carries a hash of them, so a decoder with other tables refuses the file.
"""

import argparse
import hashlib
import io
import json
import os
import sys
import time

import flax
import jax
import jax.numpy as jnp
import numpy as np

from lic_jax import checkpoint as checkpoint_lib
from lic_jax.assets import DEFAULT_MODEL
from lic_jax import image as image_lib
from lic_jax.coding import container
from lic_jax.coding.container import BitstreamError
from lic_jax.coding.model_codecs import CODECS, TABLES_FORMAT
from lic_jax.models import model_from_spec

TABLES_FILE = "coding_tables.npz"
MODEL_FILE = "model.json"
PARAMS_FILE = "params.msgpack"


def config_hash(model_config: dict) -> bytes:
  canonical = json.dumps(model_config, sort_keys=True, separators=(",", ":"))
  return hashlib.sha256(canonical.encode()).digest()[:8]


def tables_hash(arrays: dict[str, np.ndarray]) -> bytes:
  digest = hashlib.sha256()
  for key in sorted(arrays):
    value = np.ascontiguousarray(arrays[key])
    digest.update(f"{key}:{value.dtype.str}:{value.shape}".encode())
    digest.update(value.tobytes())
  return digest.digest()[:8]


def _as_float_image(image: np.ndarray) -> np.ndarray:
  image = np.asarray(image)
  if image.ndim != 3 or image.shape[-1] != 3:
    raise ValueError(f"expected an RGB image of shape (H, W, 3), got {image.shape}")
  if image.dtype == np.uint8:
    return image.astype(np.float32) / 255.0
  if not np.issubdtype(image.dtype, np.floating):
    raise ValueError(f"expected uint8 or float pixels, got {image.dtype}")
  low, high = (float(np.min(image)), float(np.max(image))) if image.size else (0.0, 0.0)
  if not (0.0 <= low and high <= 1.0):  # also refuses NaN
    raise ValueError(f"float pixels must lie in [0, 1], these span [{low:g}, {high:g}]; "
                     "pass uint8 (0..255) or divide by 255")
  return image.astype(np.float32)


class Codec:
  """A model with its parameters and frozen coding tables."""

  def __init__(self, model_config: dict, params, arrays: dict[str, np.ndarray]):
    model_config = dict(model_config)
    name = model_config["name"]
    if name not in CODECS:
      raise ValueError(f"model {name!r} has no codec; codecs exist for {sorted(CODECS)}")
    self.model_config = model_config
    self.model = model_from_spec(model_config)
    self.impl = CODECS[name](self.model, params, arrays)
    self.impl_arrays = arrays
    self.metadata: dict = {}  # lambda, distortion, training_steps, where known
    self.config_hash = config_hash(model_config)
    self.tables_hash = tables_hash(arrays)

  @classmethod
  def from_params(cls, model_config: dict, params) -> "Codec":
    """Freezes the tables in memory (for models that are not on disk)."""
    model_config = dict(model_config)
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
    return codec

  @classmethod
  def from_exported(cls, directory: str) -> "Codec":
    """A model written by `export`: model.json, params.msgpack, coding tables."""
    paths = [os.path.join(directory, f) for f in (MODEL_FILE, PARAMS_FILE, TABLES_FILE)]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
      raise checkpoint_lib.MissingCheckpointError(
          f"{directory!r} is not an exported model: {', '.join(missing)} missing")
    with open(paths[0]) as f:
      meta = json.load(f)
    model = model_from_spec(meta["model"])
    abstract = jax.eval_shape(lambda: model.init(
        {"params": jax.random.PRNGKey(0), "noise": jax.random.PRNGKey(0)},
        jnp.zeros((1, model.downsampling, model.downsampling, 3)), training=True)["params"])
    with open(paths[1], "rb") as f:
      params = flax.serialization.from_bytes(
          jax.tree_util.tree_map(lambda a: np.zeros(a.shape, a.dtype), abstract), f.read())
    with np.load(paths[2], allow_pickle=False) as stored:
      arrays = {k: v for k, v in stored.items() if not k.startswith("meta/")}
      layout = int(stored["meta/format"]) if "meta/format" in stored else 1
    if layout != TABLES_FORMAT:
      arrays = CODECS[meta["model"]["name"]].freeze(model, params)  # older tables
    codec = cls(meta["model"], params, arrays)
    codec.metadata = meta
    return codec

  @classmethod
  def load(cls, path: str | None = None) -> "Codec":
    """A run directory, an exported model directory, or (None) the bundled model."""
    path = path or DEFAULT_MODEL
    if os.path.exists(os.path.join(path, MODEL_FILE)):
      return cls.from_exported(path)
    return cls.from_checkpoint(path)

  def export(self, directory: str) -> None:
    """Writes the three files of an exported model (each atomically), with
    this codec's metadata (lambda, training steps, ...) in model.json."""
    os.makedirs(directory, exist_ok=True)
    meta = {**self.metadata, "model": self.model_config,
            "tables_hash": self.tables_hash.hex()}
    write = checkpoint_lib.write_atomic
    write(os.path.join(directory, MODEL_FILE),
          json.dumps(meta, indent=2, sort_keys=True).encode())
    write(os.path.join(directory, PARAMS_FILE),
          flax.serialization.to_bytes(jax.device_get(self.impl.params)))
    write(os.path.join(directory, TABLES_FILE),
          _npz_bytes({**self.impl_arrays, "meta/format": np.array(TABLES_FORMAT)},
                     compressed=True))

  @property
  def name(self) -> str:
    return self.model_config["name"]

  def _header(self, height: int, width: int) -> container.Header:
    padded = image_lib.pad_to_multiple(np.zeros((height, width, 1)), self.model.downsampling)
    shapes = self.impl.latent_shapes(padded.shape[0], padded.shape[1])
    return container.Header(self.name, self.config_hash, self.tables_hash, height, width,
                            shapes)

  def encode_with_latents(self, images: np.ndarray) -> list[tuple[bytes, dict]]:
    """Compresses a batch (B, H, W, 3) of same-size images; also returns the
    quantized latents that were coded."""
    images = np.asarray(images)
    if images.ndim != 4:
      raise ValueError(f"expected a batch (B, H, W, 3), got {images.shape}")
    batch = np.stack([_as_float_image(img) for img in images])
    height, width = batch.shape[1:3]
    if not (height <= container.MAX_SIDE and width <= container.MAX_SIDE):
      raise ValueError(f"image {height}x{width} exceeds the format's "
                       f"{container.MAX_SIDE} pixels per side")
    header = self._header(height, width)
    padded = image_lib.pad_to_multiple(batch, self.model.downsampling)
    return [(container.pack(header, streams), latents)
            for streams, latents in self.impl.encode(padded)]

  def compress(self, image: np.ndarray) -> bytes:
    return self.encode_with_latents(np.asarray(image)[None])[0][0]

  def compress_batch(self, images: np.ndarray) -> list[bytes]:
    return [data for data, _ in self.encode_with_latents(images)]

  def decode_with_latents(self, data: bytes) -> tuple[np.ndarray, dict]:
    """Decompresses a .lic byte string; also returns the decoded latents."""
    header, streams = container.unpack(data)
    if header.model != self.name or header.config_hash != self.config_hash:
      raise BitstreamError(
          f"this file was made by model {header.model!r} (config "
          f"{header.config_hash.hex()}), but the decoder is model {self.name!r} "
          f"(config {self.config_hash.hex()})")
    if header.tables_hash != self.tables_hash:
      raise BitstreamError(
          f"this file was coded with tables {header.tables_hash.hex()}, the decoder "
          f"has tables {self.tables_hash.hex()} (another checkpoint of {self.name!r}?)")
    expected = self._header(header.height, header.width).latent_shapes
    if header.latent_shapes != expected:
      raise BitstreamError(f"latent shapes {header.latent_shapes} do not match "
                           f"{expected} for a {header.height}x{header.width} image")
    x_hat, latents = self.impl.decode(streams, expected)
    # A hostile payload can decode to huge latents and non-finite pixels.
    x_hat = np.nan_to_num(x_hat[:header.height, :header.width], nan=0.0, posinf=1.0,
                          neginf=0.0)
    image = np.clip(x_hat, 0.0, 1.0)
    return image, latents

  def decompress(self, data: bytes) -> np.ndarray:
    return self.decode_with_latents(data)[0]


def load_or_freeze_tables(workdir: str, name: str, model, params,
                          step: int) -> dict[str, np.ndarray]:
  """DIR/coding_tables.npz if it was frozen from checkpoint `step` in the
  current TABLES_FORMAT; otherwise the tables are built from the parameters
  and stored there (atomically)."""
  path = os.path.join(workdir, TABLES_FILE)
  if os.path.exists(path):
    with np.load(path, allow_pickle=False) as stored:
      arrays = dict(stored)
    if (int(arrays.pop("meta/step", -1)) == step and
        int(arrays.pop("meta/format", 1)) == TABLES_FORMAT):
      return arrays
  if name not in CODECS:
    raise ValueError(f"model {name!r} has no codec; codecs exist for {sorted(CODECS)}")
  arrays = CODECS[name].freeze(model, params)
  checkpoint_lib.write_atomic(path, _npz_bytes({**arrays, "meta/step": np.array(step),
                                               "meta/format": np.array(TABLES_FORMAT)}))
  return arrays


def _npz_bytes(arrays: dict[str, np.ndarray], compressed: bool = False) -> bytes:
  buffer = io.BytesIO()
  (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
  return buffer.getvalue()


def _bpp(data: bytes, height: int, width: int) -> float:
  return 8.0 * len(data) / (height * width)


def check_output_path(output: str, inputs: list[str], image: bool = False) -> None:
  """Refuses, before any work, an output that would overwrite one of the
  inputs, lies in a folder that does not exist, or (image=True) has no
  image extension to choose the format by."""
  for path in inputs:
    if path and os.path.exists(output) and os.path.samefile(output, path):
      raise ValueError(f"refusing to write {output!r}: it is the input {path!r}")
  folder = os.path.dirname(os.path.abspath(output))
  if not os.path.isdir(folder):
    raise ValueError(f"output folder {folder!r} does not exist")
  if image and not image_lib.is_image_file(output):
    raise ValueError(f"output {output!r} needs an image extension "
                     f"({', '.join(image_lib.IMAGE_EXTENSIONS)})")


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(prog="python -m lic_jax.codec", description=__doc__.split("\n")[0])
  sub = parser.add_subparsers(dest="command", required=True)
  p = sub.add_parser("compress", help="image -> .lic")
  p.add_argument("input")
  p.add_argument("output")
  model_help = "run or exported model directory (default: the bundled model)"
  p.add_argument("--checkpoint", default="", help=model_help)
  p = sub.add_parser("decompress", help=".lic -> image")
  p.add_argument("input")
  p.add_argument("output")
  p.add_argument("--checkpoint", default="", help=model_help)
  p.add_argument("--original", help="the original image, to report PSNR")
  p = sub.add_parser("freeze", help="build and store the coding tables of a checkpoint")
  p.add_argument("--checkpoint", required=True)
  p = sub.add_parser("export", help="write a run's model as a self-contained directory")
  p.add_argument("--checkpoint", required=True)
  p.add_argument("--output", required=True)
  args = parser.parse_args(argv)

  from lic_jax import cli  # pylint: disable=g-import-not-at-top
  from lic_jax import metrics  # pylint: disable=g-import-not-at-top

  cli.enable_compilation_cache()
  try:
    if args.command in ("compress", "decompress"):
      check_output_path(args.output, [args.input, getattr(args, "original", None)],
                        image=args.command == "decompress")
    start = time.perf_counter()
    if args.command in ("freeze", "export"):
      codec = Codec.from_checkpoint(args.checkpoint)
    else:
      codec = Codec.load(args.checkpoint or None)
    load_s = time.perf_counter() - start
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
    if args.command == "compress":
      image = image_lib.read_rgb_uint8(args.input)
      start = time.perf_counter()
      data = codec.compress(image)
      encode_s = time.perf_counter() - start
      checkpoint_lib.write_atomic(args.output, data)
      h, w = image.shape[:2]
      print(f"{args.input} ({w}x{h}) -> {args.output}: {len(data)} bytes, "
            f"bpp={_bpp(data, h, w):.4f}, encode {encode_s:.3f} s "
            f"(model load {load_s:.2f} s)")
      return
    with open(args.input, "rb") as f:
      data = f.read()
    start = time.perf_counter()
    recon = codec.decompress(data)
    decode_s = time.perf_counter() - start
    image_lib.write_image(args.output, recon)
    h, w = recon.shape[:2]
    line = (f"{args.input} -> {args.output} ({w}x{h}): bpp={_bpp(data, h, w):.4f}, "
            f"decode {decode_s:.3f} s (model load {load_s:.2f} s)")
    if args.original:
      original = image_lib.read_image(args.original)
      if original.shape != recon.shape:
        raise ValueError(f"original {original.shape} and reconstruction "
                         f"{recon.shape} differ in size")
      decoded = image_lib.to_uint8(recon).astype(np.float32) / 255.0
      psnr = float(metrics.psnr(original[None], decoded[None])[0])
      line += f", PSNR={psnr:.2f} dB"
    print(line)
  except (BitstreamError, FileNotFoundError, ValueError, OSError) as e:
    sys.exit(f"error: {e}")


if __name__ == "__main__":
  main()
