"""CBANet-HP at the paper's scale, its four low bitrates (Sec. IV-A), one
stage per call:

  python -m lic_jax train --config configs/cbanet/hp_paper.py:base   # then branch1, ...

The base stage is the encoder preparation (Sec. III-B): bmshj2018 with
N=128, M=192 at the base lambda 2048. Then the CAM branch by branch and a
BAM of width P=192 per lower bitrate (lambda 256, 512, 1024: ours, the
paper gives only the base; configs/cbanet/stages.py). 256x256 crops, batch
8, Adam at 1e-4 throughout (the paper's settings). The paper gives 300,000
iterations per BAM and 3,000,000 for a baseline trained from scratch; it
does not give the branch stages' lengths, which here are 300,000. The three
high bitrates are configs/cbanet/hp_paper_high.py.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import stages  # pylint: disable=g-import-not-at-top,wrong-import-position

MODEL = {"name": "cbanet_hp", "num_filters": 128, "num_latents": 192, "bam_width": 192}
STEPS = {"base": 3_000_000, "branch": 300_000, "bam": 300_000}


def get_config(stage: str = "base"):
  c = stages.get_stage_config(
      stage, "runs/cbanet-hp-paper", model=MODEL, steps=STEPS,
      learning_rates={"base": 1e-4, "branch": 1e-4, "bam": 1e-4},
      paper_lambdas=stages.LOW_LAMBDAS)
  c.data.crop_size = 256
  c.data.batch_size = 8
  return c
