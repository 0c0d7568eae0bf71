"""CBANet-HP at CPU scale, one stage per call:

  python -m lic_jax train --config configs/cbanet/hp_cpu.py:base      # bmshj2018, the encoder
  python -m lic_jax train --config configs/cbanet/hp_cpu.py:branch1   # then branch2, branch3
  python -m lic_jax train --config configs/cbanet/hp_cpu.py:bam0      # bam1, bam2

With ',joint' after the stage (hp_cpu.py:branch1,joint, then branch2,joint,
...; runs under runs/cbanet-hp-cpu-joint), no encoder preparation: branch 1
trains with the encoder, the base's 5,000 steps. Not the paper's procedure;
at this budget it costs about half the BD-rate (results/README.md).

N=64, M=96, P=96 (the paper: 128, 192, 192), 8 crops of 128x128 per step
and learning rates raised for thousands of steps instead of the paper's
hundreds of thousands (as configs/bmshj2018_cpu_sweep.py), for the 2 cores
of this project.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import stages  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config(arg: str = "base"):
  stage, _, variant = arg.partition(",")
  if variant not in ("", "joint"):
    raise ValueError(f"unknown CBANet variant {variant!r}: '' (the paper's) or 'joint'")
  joint = variant == "joint"
  c = stages.get_stage_config(
      stage, "runs/cbanet-hp-cpu-joint" if joint else "runs/cbanet-hp-cpu",
      model={"name": "cbanet_hp", "num_filters": 64, "num_latents": 96, "bam_width": 96},
      steps={"base": 5000, "branch": 3000, "bam": 1500},
      learning_rates={"base": 1e-3, "branch": 1e-3, "bam": 5e-4},
      paper_lambdas=stages.LOW_LAMBDAS, joint_base=joint)
  c.data.crop_size = 128
  c.data.batch_size = 8
  c.lr_drop_steps = (int(c.num_steps * 0.85),)
  c.aux_learning_rate = 1e-2
  c.log_every = 100
  c.checkpoint_every = 500
  return c
