r"""Trains one model family at several lambdas and evaluates it into one RD curve.

  python -m lic_jax sweep --config configs/bmshj2018_cpu_sweep.py \
      [--output results/kodak/lic_jax-bmshj2018-cpu.json] [--export MODELS_DIR]

config.sweep.lambdas lists the rate points. The first, the anchor, is trained
from scratch for config.num_steps, or, with config.sweep.anchor_model, is
that already trained model (a run or an exported model, e.g. a bundled one);
every other lambda starts from the anchor's final parameters and trains
config.sweep.finetune_steps more (the
usual way to get a family cheaply; set finetune_steps = 0 to train every
lambda from scratch instead). Each point is then evaluated on
config.sweep.eval_directory with real bitstreams (range-coded bpp, decoded
images), and the points are written as one curve in CompressAI's results
schema, sorted by rate, with the lambdas alongside. --export writes the family as
quality levels: MODELS_DIR/q1 (lowest rate) ... qn, exported models whose
model.json carries the lambda, the quality and the evaluation (the layout of
lic_jax/assets/pretrained). Every run directory
(<workdir>/lambda<value>) resumes like a training, so re-running a killed
sweep continues where it stopped.
"""

from absl import flags
from ml_collections import config_flags

from lic_jax import cli

if __name__ == "__main__":
  config_flags.DEFINE_config_file("config", None, "Sweep config file.", lock_config=True)
  flags.DEFINE_string("output", None, "Curve JSON to write (default: config.sweep.output).")
  flags.DEFINE_string("export", None, "Also export the points as quality levels "
                      "EXPORT/q1 ... qn (default: no export).")
  cli.run_module("lic_jax.sweep")
