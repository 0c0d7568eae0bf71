r"""Equal-budget comparison of the priors: bmshj2018 vs mbt2018_mean vs mbt2018
vs he2021 (mbt2018's context as a checkerboard) vs ms2020 (channel slices),
and bls2017.

  python -m lic_jax train --config configs/prior_comparison_cpu.py:mbt2018
  python -m lic_jax train --config configs/prior_comparison_cpu.py:he2021,0.0035

Small widths (N=32, M=48; ms2020's 10 slices of 5 and 4 channels) and 1,500 steps of 8 128x128 crops at lambda=0.0067
(or the lambda after the model's name), so that each run fits a few minutes
on 2 CPU cores; same seed, data, schedule and evaluation (all 24 Kodak
images) for every model and lambda.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import base  # pylint: disable=g-import-not-at-top,wrong-import-position


DEFAULT_LAMBDA = "0.0067"


def get_config(arg: str = "mbt2018"):
  """arg: 'model' or 'model,lambda'."""
  model, lmbda = (arg.split(",") + [DEFAULT_LAMBDA])[:2]
  c = base.get_config()
  c.model = {"name": model, "num_filters": 32, "num_latents": 48, "simplified_gdn": False}
  # The runs at the default lambda keep the directories they were made in.
  suffix = "" if lmbda == DEFAULT_LAMBDA else f"-{lmbda}"
  c.workdir = f"runs/prior-comparison/{model}{suffix}"
  c.lmbda = float(lmbda)
  c.data.crop_size = 128
  c.data.batch_size = 8
  c.num_steps = 1500
  c.learning_rate = 1e-3
  c.lr_drop_steps = (1300,)
  c.aux_learning_rate = 1e-2
  c.log_every = 100
  c.checkpoint_every = 500
  c.eval.directory = os.path.join(
      os.environ.get("LIC_JAX_DATA", os.path.join("..", "shared", "data")), "kodak")
  c.eval.every = 0
  return c
