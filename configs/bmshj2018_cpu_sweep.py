"""A four-lambda family of small scale hyperpriors (N=64, M=96) on 2 CPU cores.

  python -m lic_jax sweep --config configs/bmshj2018_cpu_sweep.py

The anchor (lambda=0.0067) trains from scratch; 0.0018, 0.0035 and 0.013 are
fine-tuned from it (see lic_jax.sweep). 128x128 crops give 4x more steps than
256x256 for the same pixels; the learning rates are higher than the paper's
1e-4 because the budget is thousands of steps, not a million. The lambda=0.0067
model is the one bundled with the package (lic_jax/assets/pretrained).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import base  # pylint: disable=g-import-not-at-top,wrong-import-position

import ml_collections  # pylint: disable=g-import-not-at-top,wrong-import-order


def get_config():
  c = base.get_config()
  c.model = {"name": "bmshj2018", "num_filters": 64, "num_latents": 96,
             "simplified_gdn": False}
  c.workdir = "runs/bmshj2018-cpu-sweep"
  c.data.crop_size = 128
  c.data.batch_size = 8
  c.num_steps = 5000              # the anchor
  c.learning_rate = 1e-3
  c.lr_drop_steps = (4300,)
  c.aux_learning_rate = 1e-2
  c.log_every = 100
  c.checkpoint_every = 500
  kodak = os.path.join(
      os.environ.get("LIC_JAX_DATA", os.path.join("..", "shared", "data")), "kodak")
  c.sweep = ml_collections.ConfigDict()
  c.sweep.name = "lic_jax-bmshj2018-cpu"
  c.sweep.lambdas = (0.0067, 0.0018, 0.0035, 0.0130)   # anchor first
  c.sweep.anchor_model = ""       # '' = train the anchor; else a trained model
  c.sweep.finetune_steps = 700
  c.sweep.finetune_learning_rate = 5e-4
  c.sweep.finetune_lr_drop_steps = (550,)
  c.sweep.eval_directory = kodak
  c.sweep.output = "results/kodak/lic_jax-bmshj2018-cpu.json"
  return c
