"""CBANet-AR at the paper's scale (Sec. IV-B), one stage per call:

  python -m lic_jax train --config configs/cbanet/ar_paper.py:base   # then branch1, ...

The encoder preparation is mbt2018 with N=192, M=320 at the base lambda
8192 (the paper's); BAMs of width P=320 for six lower bitrates, lambda 256,
512, 1024, 2048, 3251 and 5161 (ours: CBANet-HP's low and high bitrates
together; the paper's Table VI counts seven bitrates and gives only the
base). 256x256 crops, batch 8, Adam at 1e-4 and 1e-5 for the BAMs (the
paper's settings for CBANet-AR); stage lengths as configs/cbanet/hp_paper.py.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import hp_paper  # pylint: disable=g-import-not-at-top,wrong-import-position
import stages  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config(stage: str = "base"):
  c = stages.get_stage_config(
      stage, "runs/cbanet-ar-paper",
      model={"name": "cbanet_ar", "num_filters": 192, "num_latents": 320, "bam_width": 320},
      steps=hp_paper.STEPS,
      learning_rates={"base": 1e-4, "branch": 1e-4, "bam": 1e-5},
      paper_lambdas=(*stages.LOW_LAMBDAS, *stages.HIGH_LAMBDAS))
  c.data.crop_size = 256
  c.data.batch_size = 8
  return c
