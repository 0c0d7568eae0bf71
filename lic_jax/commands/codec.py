r"""Real compression: images to .lic files and back, through the range coder.

  python -m lic_jax codec compress IN.png OUT.lic [--quality 1..5] [--checkpoint DIR] [--force]
  python -m lic_jax codec decompress OUT.lic RECON.png [--checkpoint DIR] [--original IN.png]
      [--max-pixels N] [--force]
  python -m lic_jax codec compress IN.png OUT.lic --checkpoint CBANET --rate j     # bitrate j
  python -m lic_jax codec decompress OUT.lic RECON.png --checkpoint CBANET --complexity K
  python -m lic_jax codec compress photos/ a.png b.jpg OUT_DIR/   # a batch: OUT_DIR/<name>.lic
  python -m lic_jax codec decompress OUT_DIR/ RECON_DIR/          # RECON_DIR/<name>.png
  python -m lic_jax codec models                 # the bundled quality levels, Kodak bpp/PSNR
  python -m lic_jax codec freeze --checkpoint DIR
  python -m lic_jax codec export --checkpoint DIR --output MODEL_DIR

What it does and how: lic_jax.codec.
"""

import argparse
import os

from lic_jax import cli
from lic_jax.assets import DEFAULT_FAMILY, DEFAULT_QUALITY, PRETRAINED

# lic_jax.coding.range_coder.CODERS (a test keeps them equal), named here so
# that --help does not import Numba.
CODERS = ("lic_jax", "tfc")


def parser() -> argparse.ArgumentParser:
  """The command's arguments."""
  parser = argparse.ArgumentParser(prog="python -m lic_jax codec", description=cli.summary(__doc__))
  sub = parser.add_subparsers(dest="command", required=True)
  model_help = ("run or exported model directory, or a folder of quality levels "
                "(default: the bundled levels)")
  quality_help = (f"quality level of the bundled models (or of --checkpoint's levels): "
                  f"1 = lowest rate (default {DEFAULT_QUALITY}; see `models`)")
  coder_help = ("range coder: lic_jax's (default), or tensorflow-compression's ops, the "
                "reference (pip install 'lic_jax[tfc]'); the files are the same bytes")
  io_help = ("one file and its output, or several files / folders and an output folder "
             "(<name>.lic, <name>.png)")
  # What compress and decompress share: their inputs and outputs, the
  # model, what happens to existing outputs, the range coder.
  coding = argparse.ArgumentParser(add_help=False)
  coding.add_argument("paths", nargs="+", metavar="INPUT ... OUTPUT", help=io_help)
  coding.add_argument("--checkpoint", default="", help=model_help)
  coding.add_argument("--force", action="store_true", help="overwrite existing outputs")
  coding.add_argument("--skip-existing", action="store_true",
                      help="in a batch, leave out the inputs whose outputs exist (a re-run "
                           "codes only what is missing)")
  coding.add_argument("--range-coder", choices=CODERS, default="lic_jax",
                      help=coder_help)
  p = sub.add_parser("compress", parents=[coding], help="image(s) -> .lic")
  p.add_argument("--quality", type=int, help=quality_help)
  p.add_argument("--rate", type=int,
                 help="bitrate index of a CBANet model, 0 = the lowest (default: its base, "
                      "the highest)")
  p = sub.add_parser("decompress", parents=[coding], help=".lic -> image(s)")
  p.add_argument("--quality", type=int,
                 help="quality level to decode with (default: the level, bundled or of "
                      "--checkpoint's folder of levels, whose coding tables wrote each file)")
  p.add_argument("--complexity", type=int,
                 help="complexity level K of a CBANet model: decode with its first K "
                      "synthesis branches (default: all)")
  p.add_argument("--original", help="the original image, to report PSNR (one input only)")
  p.add_argument("--max-pixels", type=int,
                 help="refuse files declaring larger images (default 67108864, "
                      "lic_jax.codec.DEFAULT_MAX_PIXELS: 2.0 GiB of memory measured with "
                      "the bundled model)")
  p = sub.add_parser("models", help="list the quality levels with their Kodak rate and PSNR")
  p.add_argument("--checkpoint", default=os.path.join(PRETRAINED, DEFAULT_FAMILY),
                 help="folder of quality levels (default: the bundled ones)")
  p = sub.add_parser("freeze", help="build and store the coding tables of a checkpoint")
  p.add_argument("--checkpoint", required=True)
  p = sub.add_parser("export", help="write a run's model as a self-contained directory")
  p.add_argument("--checkpoint", required=True)
  p.add_argument("--output", required=True)
  return parser


def main(argv=None) -> None:
  cli.run_parsed(parser(), "lic_jax.codec", argv)


if __name__ == "__main__":
  main()
