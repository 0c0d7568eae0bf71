"""python -m lic_jax.grouping sweep|report|encode|classify ... (lic_jax.grouping.cli)."""

import sys

from absl import flags
from ml_collections import config_flags

from lic_jax import cli
from lic_jax import image as image_lib
from lic_jax.coding.container import BitstreamError
from lic_jax.grouping import cli as grouping_cli

# --help prints the main module's docstring: the commands' usage, in cli.py.
__doc__ = grouping_cli.__doc__  # pylint: disable=redefined-builtin

if __name__ == "__main__":
  flags.DEFINE_string("run", "", "encode/classify: the model's run directory.")
  flags.DEFINE_string("output", None, "encode: the .lic file to write.", short_name="o")
  flags.DEFINE_bool("force", False, "encode: overwrite an existing output.")
  config_flags.DEFINE_config_file("config", None, "sweep/report: a sweep config "
                                  "(configs/grouping/*_sweep.py).", lock_config=True)
  sys.exit(cli.run(grouping_cli.main, (ValueError, FileNotFoundError, FileExistsError,
                                       BitstreamError, image_lib.ImageReadError)))
