r"""Real bitstreams of a rate-adaptive OHM / INT autoencoder (lic_jax.ohm.model),
one stream per feature map (lic_jax.ohm.codec):

  python -m lic_jax ohm compress IN.png OUT.lic --checkpoint RUN (--quality Q | --maps N)
  python -m lic_jax ohm decompress IN.lic OUT.png --checkpoint RUN
  python -m lic_jax ohm truncate IN.lic OUT.lic (--maps N | --quality Q --checkpoint RUN)

RUN is the run directory of a training with recipe 'ohm' (configs/ohm/).
The quality q in [0, 1] sends n(q) = C_min + ceil(q (C_Z - C_min)) maps
(Eq. 5); --maps sends the first N. `truncate` cuts an existing file to its
first maps without re-encoding (no model is needed for --maps); the result
decodes to exactly the image that compressing with that many maps gives.
The MNIST models code 28x28 grayscale images, the natural-image ones RGB
images of any size. An existing output is never overwritten without --force.
"""

import argparse
import os
import sys

import numpy as np

from lic_jax import cli
from lic_jax import image as image_lib
from lic_jax.coding import container
from lic_jax.coding.container import BitstreamError
from lic_jax.files import check_new_output, write_atomic


def read_image(path: str, channels: int) -> np.ndarray:
  """(H, W, channels) uint8: RGB, or for one channel a grayscale image
  (refused when its pixels have colour)."""
  rgb = image_lib.read_rgb_uint8(path)
  if channels == 3:
    return rgb
  if np.any(rgb != rgb[..., :1]):
    raise ValueError(f"{path}: the model codes grayscale images and this one has colour")
  return rgb[..., :1]


def _codec(checkpoint: str):
  from lic_jax.ohm.codec import MapCodec  # pylint: disable=g-import-not-at-top

  if not checkpoint:
    raise ValueError("--checkpoint RUN is needed: the run directory of an 'ohm' training")
  return MapCodec.from_checkpoint(checkpoint)


def _png_bytes(image: np.ndarray, path: str) -> bytes:
  import io  # pylint: disable=g-import-not-at-top

  from PIL import Image  # pylint: disable=g-import-not-at-top

  pixels = image_lib.to_uint8(image)
  buffer = io.BytesIO()
  Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(
      buffer, format=Image.registered_extensions()[os.path.splitext(path)[1].lower()])
  return buffer.getvalue()


def run(args) -> str:
  """Carries out one command; returns its report line. The output is
  checked (its folder, its extension, --force) before any work."""
  check_new_output(args.output, [args.input], args.force, image=args.command == "decompress",
                   coded=args.command != "decompress")
  if args.command == "compress":
    codec = _codec(args.checkpoint)
    image = read_image(args.input, codec.model.image_channels)
    data = codec.compress(image, quality=args.quality, maps=args.maps)
    write_atomic(args.output, data)
    header, _ = container.unpack_maps(data)
    return (f"{args.input} -> {args.output}: {header.sent} of {header.num_maps} maps, "
            f"{len(data)} bytes, {8 * len(data) / (image.shape[0] * image.shape[1]):.4f} bpp")
  with open(args.input, "rb") as f:
    data = f.read()
  if args.command == "decompress":
    codec = _codec(args.checkpoint)
    image = codec.decompress(data)
    write_atomic(args.output, _png_bytes(image, args.output))
    return f"{args.input} -> {args.output}: {image.shape[1]}x{image.shape[0]}"
  if args.quality is not None:
    cut = _codec(args.checkpoint).truncate(data, quality=args.quality)
  elif args.maps is not None:
    cut = container.truncate_maps(data, args.maps)
  else:
    raise ValueError("truncate needs --maps N or --quality Q")
  write_atomic(args.output, cut)
  return f"{args.input} -> {args.output}: {len(data)} -> {len(cut)} bytes"


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(prog="python -m lic_jax ohm",
                                   description=cli.summary(__doc__))
  parser.add_argument("command", choices=("compress", "decompress", "truncate"))
  parser.add_argument("input")
  parser.add_argument("output")
  parser.add_argument("--checkpoint", default="", help="the run directory of the model")
  parser.add_argument("--quality", type=float, default=None,
                      help="q in [0, 1]: send n(q) maps (Eq. 5); compress's default 1, every map")
  parser.add_argument("--maps", type=int, default=None, help="send the first MAPS maps")
  parser.add_argument("--force", action="store_true", help="overwrite an existing output")
  args = parser.parse_args(argv)
  if args.quality is not None and args.maps is not None:
    parser.error("give --quality or --maps, not both")
  if args.command == "compress" and args.quality is None and args.maps is None:
    args.quality = 1.0
  try:
    print(run(args))
  except (ValueError, OSError, BitstreamError) as e:  # FileExistsError is an OSError
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)

