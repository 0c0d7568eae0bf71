r"""The one trainer: trains the task recipe config.recipe names
(lic_jax.recipes; 'compression', L = R + lambda * D, by default).

  python -m lic_jax train --config configs/bmshj2018.py \
      --config.lmbda=0.0067 --workdir runs/bmshj2018-q3
  python -m lic_jax train --config configs/classify/cifar10_resnet.py

The run directory receives config.json, orbax checkpoints and metrics.jsonl.
Re-running the same command resumes from the newest checkpoint: the step, the
parameters, the optimizer state, the batch statistics, the data order and
the noise RNG all continue exactly where they stopped (batches and noise are
functions of the step, see lic_jax.data).

Parts of the model can be frozen (config.freeze: parameter path prefixes
such as 'stem' or 'layer1[0]'; zero updates, no optimizer state, and their
batch statistics kept) and initialized from another run (config.init_from:
a run directory, or a torchvision ResNet state_dict saved as .npz;
config.init_parts: 'part' or 'part=source_part' entries, empty = everything).
"""

from absl import flags
from ml_collections import config_flags

from lic_jax import cli

if __name__ == "__main__":
  config_flags.DEFINE_config_file("config", None, "Training config file.", lock_config=True)
  flags.DEFINE_string("workdir", None, "Run directory (default: config.workdir).")
  cli.run_module("lic_jax.train")
