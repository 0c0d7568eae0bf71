"""python -m lic_jax.split encode|classify|search|report|overhead ... (lic_jax.split.cli)."""

import sys

from absl import flags
from ml_collections import config_flags

from lic_jax import cli
from lic_jax import image as image_lib
from lic_jax.coding.container import BitstreamError
from lic_jax.split import cli as split_cli

# --help prints the main module's docstring: the commands' usage, in cli.py.
__doc__ = split_cli.__doc__  # pylint: disable=redefined-builtin

if __name__ == "__main__":
  flags.DEFINE_string("units", "", "The bank: unit run directories, comma-separated, in order.")
  flags.DEFINE_integer("unit", 0, "encode: the unit's index in the bank.")
  flags.DEFINE_string("output", None, "encode: the .lic file to write.", short_name="o")
  flags.DEFINE_bool("force", False, "encode: overwrite an existing output.")
  flags.DEFINE_string("split", "", "classify: refuse files of any other split point.")
  flags.DEFINE_string("json", None, "overhead: also write the table to this JSON file.")
  config_flags.DEFINE_config_file("config", None, "search: a search config "
                                  "(configs/split/*_search.py).", lock_config=True)
  sys.exit(cli.run(split_cli.main, (ValueError, FileNotFoundError, FileExistsError,
                                    BitstreamError, image_lib.ImageReadError)))
