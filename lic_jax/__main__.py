"""python -m lic_jax [--version] [COMMAND [ARGS...]] (or lic-jax ...): the
version, the commands there are, and each command run by name."""

import argparse
import sys

from lic_jax import __version__
from lic_jax import cli

# Each command, the module that runs it (its front: usage and flags, the
# library imported once they are parsed) and what it does.
COMMANDS = {
    "codec": ("lic_jax.commands.codec",
              "compress images to .lic files and back (the bundled model or yours)"),
    "train": ("lic_jax.commands.train", "train a model: the one trainer, for every recipe"),
    "launch": ("lic_jax.launch",
               "train on several JAX processes of this machine, as on several hosts"),
    "sweep": ("lic_jax.commands.sweep",
              "train a lambda family and evaluate it into one RD curve"),
    "eval": ("lic_jax.commands.eval", "evaluate a model or codec on an image folder"),
    "plot": ("lic_jax.commands.plot", "draw RD curves and training curves"),
    "bd": ("lic_jax.commands.bd", "BD-rate and BD-PSNR between two RD curves"),
    "baselines": ("lic_jax.commands.baselines",
                  "JPEG and WebP swept over quality, with the same metrics"),
    "complexity": ("lic_jax.commands.complexity",
                   "what a model costs: parameters, multiply-adds"),
    "ohm": ("lic_jax.ohm", "OHM / INT map files: compress, decompress, truncate"),
    "split": ("lic_jax.split", "split computing: encode, classify, search, report, overhead"),
    "grouping": ("lic_jax.grouping", "learned grouping: sweep, report, encode, classify"),
}


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  if argv and argv[0] in COMMANDS:
    cli.run_as_main(COMMANDS[argv[0]][0], argv[1:])
    return 0
  parser = argparse.ArgumentParser(
      prog="python -m lic_jax", description="lic_jax: learned image compression in JAX/Flax.",
      epilog="commands (python -m lic_jax COMMAND --help):\n" + "\n".join(
          f"  {name:<11} {what}" for name, (_, what) in COMMANDS.items()),
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--version", action="version", version=f"lic_jax {__version__}")
  parser.add_argument("command", nargs="?", choices=COMMANDS, metavar="COMMAND",
                      help="one of the commands below, then its arguments")
  parser.parse_args(argv)
  parser.print_help()
  return 0


if __name__ == "__main__":
  sys.exit(main())
