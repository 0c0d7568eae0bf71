"""CBANet-AR at CPU scale, one stage per call:

  python -m lic_jax train --config configs/cbanet/ar_cpu.py:base      # mbt2018, the encoder
  python -m lic_jax train --config configs/cbanet/ar_cpu.py:branch1   # then branch2, branch3
  python -m lic_jax train --config configs/cbanet/ar_cpu.py:bam0

mbt2018 with N=64, M=96, P=96 (the paper: 192, 320, 320) at two bitrates,
CBANet-HP's lambda 1024 and 2048 (the paper's CBANet-AR has seven, its
base at 8192: configs/cbanet/ar_paper.py), 8 crops of
128x128 per step and raised learning rates for a few thousand steps, as
configs/cbanet/hp_cpu.py, for the 2 cores of this project.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import stages  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config(stage: str = "base"):
  c = stages.get_stage_config(
      stage, "runs/cbanet-ar-cpu",
      model={"name": "cbanet_ar", "num_filters": 64, "num_latents": 96, "bam_width": 96},
      steps={"base": 4000, "branch": 1500, "bam": 1500},
      learning_rates={"base": 1e-3, "branch": 1e-3, "bam": 5e-4},
      paper_lambdas=stages.LOW_LAMBDAS[-2:])
  c.data.crop_size = 128
  c.data.batch_size = 8
  c.lr_drop_steps = (int(c.num_steps * 0.85),)
  c.aux_learning_rate = 1e-2
  c.log_every = 100
  c.checkpoint_every = 500
  return c
