"""CBANet-HP at the paper's scale (Sec. IV-A), one stage per call:

  python -m lic_jax.train --config configs/cbanet/hp_paper.py:base   # then branch2, ...

N=128, M=192, P=192, 256x256 crops, batch 8, Adam at 1e-4 throughout (the
paper's settings). The paper gives 300,000 iterations per BAM and 3,000,000
for a baseline trained from scratch; it does not give the base and branch
stages' lengths, which here are 3,000,000 and 300,000.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import stages  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config(stage: str = "base"):
  c = stages.get_stage_config(
      stage, "runs/cbanet-hp-paper",
      model={"name": "cbanet_hp", "num_filters": 128, "num_latents": 192, "bam_width": 192},
      steps={"base": 3_000_000, "branch": 300_000, "bam": 300_000},
      learning_rates={"base": 1e-4, "branch": 1e-4, "bam": 1e-4})
  c.data.crop_size = 256
  c.data.batch_size = 8
  return c
