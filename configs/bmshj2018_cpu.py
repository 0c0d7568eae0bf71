"""The CPU-budget bmshj2018 (N=128, M=192) run recorded in results/.

About 2 hours on 2 CPU cores: 128x128 crops (4x more steps than 256x256
for the same pixels), a 5x higher learning rate than the paper's 1e-4,
dropped x0.1 for the last ~15% of the steps, and a 10x higher learning rate
for the bottleneck quantiles than CompressAI's 1e-3 (at 1e-3 they move too
little in a few thousand steps to reach their targets).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import bmshj2018  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config():
  c = bmshj2018.get_config()
  c.workdir = "runs/bmshj2018-cpu"
  c.lmbda = 0.0130
  c.data.crop_size = 128
  c.data.batch_size = 8
  c.num_steps = 8000
  c.learning_rate = 5e-4
  c.lr_drop_steps = (7000,)
  c.aux_learning_rate = 1e-2
  c.log_every = 100
  c.checkpoint_every = 500
  c.eval.directory = os.path.join(
      os.environ.get("LIC_JAX_DATA", os.path.join("..", "shared", "data")), "kodak")
  c.eval.every = 1000
  c.eval.max_images = 4
  return c
