"""python -m lic_jax [--version]: the version, and the commands there are."""

import argparse
import sys

from lic_jax import __version__

# Each `python -m lic_jax.<name>` and what it does (its --help says how).
COMMANDS = {
    "codec": "compress images to .lic files and back (the bundled model or yours)",
    "train": "train a model: the one trainer, for every recipe",
    "launch": "train on several JAX processes of this machine, as on several hosts",
    "sweep": "train a lambda family and evaluate it into one RD curve",
    "eval": "evaluate a model or codec on an image folder",
    "plot": "draw RD curves and training curves",
    "bd": "BD-rate and BD-PSNR between two RD curves",
    "baselines": "JPEG and WebP swept over quality, with the same metrics",
    "complexity": "what a model costs: parameters, multiply-adds",
    "ohm": "OHM / INT map files: compress, decompress, truncate",
    "split": "split computing: encode, classify, search, report, overhead",
    "grouping": "learned grouping: sweep, report, encode, classify",
}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      prog="python -m lic_jax", description="lic_jax: learned image compression in JAX/Flax.",
      epilog="commands (python -m lic_jax.COMMAND --help):\n" + "\n".join(
          f"  {name:<11} {what}" for name, what in COMMANDS.items()),
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--version", action="version", version=f"lic_jax {__version__}")
  parser.parse_args(argv)
  parser.print_help()
  return 0


if __name__ == "__main__":
  sys.exit(main())
