r"""Bjontegaard deltas between two rate-distortion curves.

  python -m lic_jax bd ANCHOR.json TEST.json [--metric psnr-rgb] [--method cubic]

What it does and how: lic_jax.bd.
"""

import argparse

from lic_jax import cli

# lic_jax.bd.METHODS (a test keeps them equal), named here so that --help
# does not import NumPy and SciPy.
METHODS = ("cubic", "pchip")


def parser() -> argparse.ArgumentParser:
  """The command's arguments."""
  parser = argparse.ArgumentParser(prog="python -m lic_jax bd",
                                   description=cli.summary(__doc__))
  parser.add_argument("anchor")
  parser.add_argument("test")
  parser.add_argument("--metric", default="psnr-rgb",
                      help="a quality key of the files' results, e.g. psnr-rgb or ms-ssim-rgb "
                           "(default %(default)s)")
  parser.add_argument("--method", default="cubic", choices=METHODS,
                      help="default %(default)s")
  return parser


def main(argv=None) -> None:
  cli.run_parsed(parser(), "lic_jax.bd", argv)


if __name__ == "__main__":
  main()
