r"""Classical codecs (Pillow's JPEG and WebP) swept over quality, same metrics.

  python -m lic_jax baselines jpeg --subsampling 4:2:0 --output results/kodak/jpeg-420.json
  python -m lic_jax baselines jpeg --subsampling 4:4:4 --output results/kodak/jpeg-444.json
  python -m lic_jax baselines webp --output results/kodak/webp.json

What it does and how: lic_jax.baselines.
"""

import argparse

from lic_jax import cli

# lic_jax.baselines' CODECS and SUBSAMPLING (a test keeps them equal), named
# here so that --help does not import JAX.
CODECS = ("jpeg", "webp")
SUBSAMPLING = ("4:2:0", "4:2:2", "4:4:4")


def parser() -> argparse.ArgumentParser:
  """The command's arguments."""
  parser = argparse.ArgumentParser(prog="python -m lic_jax baselines",
                                   description=cli.summary(__doc__))
  parser.add_argument("codec", choices=CODECS)
  parser.add_argument("--data", default="",
                      help="folder of images (default: $LIC_JAX_DATA/kodak)")
  parser.add_argument("--subsampling", default="4:2:0", choices=SUBSAMPLING,
                      help="JPEG chroma subsampling (default %(default)s)")
  parser.add_argument("--qualities",
                      help="comma-separated codec qualities in 1..100 (default 5, 10, ..., 95: "
                           "lic_jax.baselines.DEFAULT_QUALITIES)")
  parser.add_argument("--output", required=True, help="the curve's JSON file")
  return parser


def main(argv=None) -> None:
  cli.run_parsed(parser(), "lic_jax.baselines", argv)


if __name__ == "__main__":
  main()
