r"""What a model costs to store and run: the parameters a decoder needs, its
multiply-adds per pixel layer by layer, and its measured latency; and what
a config costs to train (lic_jax.complexity says how each is counted).

  python -m lic_jax complexity --config configs/cbanet/hp_paper.py [--height 512 --width 768] \
      [--json results/cbanet/complexity_paper_widths.json]
  python -m lic_jax complexity --config configs/ohm/kodak_paper.py --training
"""

from absl import flags
from ml_collections import config_flags

from lic_jax import cli

if __name__ == "__main__":
  config_flags.DEFINE_config_file("config", None, "A training config whose model to cost.",
                                  lock_config=True)
  flags.DEFINE_integer("height", 512, "Image height (default 512, Kodak's).")
  flags.DEFINE_integer("width", 768, "Image width (default 768).")
  flags.DEFINE_integer("repeats", 5, "Timed runs per level (default 5).")
  flags.DEFINE_string("json", None, "Also write the rows to this JSON file (default: none).")
  flags.DEFINE_bool("training", False, "Print the config's training cost instead: FLOPs per "
                    "step at its batch times its steps (any recipe).")
  flags.mark_flag_as_required("config")
  cli.run_module("lic_jax.complexity")
