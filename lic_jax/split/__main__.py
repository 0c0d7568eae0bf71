r"""Split computing with bottleneck units (Datta et al.): code features on
the client, classify them on the server, and search the units' space.

  # client: an image's features through unit k of a bank (run directories)
  python -m lic_jax split encode --units RUN0,RUN1,... --unit 1 image.png -o image.lic
  # server: decode, run the unit's decoder and the backbone's tail
  python -m lic_jax split classify --units RUN0,RUN1,... image.lic [--split 'layer3[2]']
  # the random search over (Cr, S, alpha, Q), resumable, with its frontier
  python -m lic_jax split search --config configs/split/cifar_search.py
  # its comparison with the baselines and plot again, from its results file
  python -m lic_jax split report --config configs/split/cifar_search.py
  # Table III: the largest unit of a search's space against its backbone
  python -m lic_jax split overhead --config configs/split/imagenet_search.py

The bank is the ordered list of units (the same on both sides: its hashes
are in every file). `search` trains every sampled unit (a run directory
each, resumed or skipped when done), then codes the test set through each
with real bitstreams (lic_jax.split.codec; one bank of all the
search's units, so each file pays log2 K bits for its unit index), writes
the points, the Pareto frontiers of accuracy vs actual bpp and the overhead
table (Table III) to config.output, and plots them with the baselines of
benchmarks/split_baselines.py when config.baselines exists.
"""

from absl import flags
from ml_collections import config_flags

from lic_jax import cli

if __name__ == "__main__":
  flags.DEFINE_string("units", "", "The bank: unit run directories, comma-separated, in order.")
  flags.DEFINE_integer("unit", 0, "encode: the unit's index in the bank.")
  flags.DEFINE_string("output", None, "encode: the .lic file to write.", short_name="o")
  flags.DEFINE_bool("force", False, "encode: overwrite an existing output.")
  flags.DEFINE_string("split", "", "classify: refuse files of any other split point.")
  flags.DEFINE_string("json", None, "overhead: also write the table to this JSON file.")
  config_flags.DEFINE_config_file("config", None, "search: a search config "
                                  "(configs/split/*_search.py).", lock_config=True)
  cli.run_module("lic_jax.split.cli")
