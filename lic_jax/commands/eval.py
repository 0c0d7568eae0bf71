r"""Evaluates a trained model on a folder of images (e.g. Kodak).

  python -m lic_jax eval [--checkpoint runs/bmshj2018] [--data ../shared/data/kodak] \
      [--real-bitstream] [--output results/kodak/mine.json] [--rate j --complexity K]

What it does and how: lic_jax.eval.
"""

import argparse

from lic_jax import cli


def parser() -> argparse.ArgumentParser:
  """The command's arguments."""
  parser = argparse.ArgumentParser(prog="python -m lic_jax eval",
                                   description=cli.summary(__doc__))
  parser.add_argument("--checkpoint", default="",
                      help="run or exported model directory (default: the bundled model)")
  parser.add_argument("--data", default="",
                      help="folder of images (default: $LIC_JAX_DATA/kodak or ../shared/data/kodak)")
  parser.add_argument("--real-bitstream", action="store_true",
                      help="really compress and decompress every image")
  parser.add_argument("--output", default="", help="where to write the results JSON")
  parser.add_argument("--name", default="", help="name in the JSON (default: lic_jax-<model>)")
  parser.add_argument("--max-images", type=int, default=0,
                      help="only the first N images (default: all)")
  parser.add_argument("--rate", type=int,
                      help="bitrate index of a CBANet (default: its base, the highest)")
  parser.add_argument("--complexity", type=int,
                      help="complexity level K of a CBANet (default: all its branches)")
  return parser


def main(argv=None) -> None:
  cli.run_parsed(parser(), "lic_jax.eval", argv)


if __name__ == "__main__":
  main()
