"""Zero-setup demo: a tiny scale hyperprior trained for a few minutes on four
256x256 Kodak crops shipped inside the package, then evaluated on them.

  python -m lic_jax train --config configs/quickstart.py
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import base  # pylint: disable=g-import-not-at-top,wrong-import-position

from lic_jax.assets import QUICKSTART_IMAGES  # pylint: disable=g-import-not-at-top


def get_config():
  c = base.get_config()
  c.model = {"name": "bmshj2018", "num_filters": 32, "num_latents": 48,
             "simplified_gdn": False}
  c.workdir = "runs/quickstart"
  c.lmbda = 0.0130
  c.data.directory = QUICKSTART_IMAGES
  c.data.crop_size = 128
  c.data.batch_size = 4
  c.num_steps = 2000
  c.learning_rate = 1e-3
  c.lr_drop_steps = (1600,)
  c.log_every = 100
  c.checkpoint_every = 500
  c.eval.directory = QUICKSTART_IMAGES
  c.eval.every = 0
  return c
