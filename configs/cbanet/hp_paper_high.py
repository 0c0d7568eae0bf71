"""CBANet-HP at the paper's scale, its three high bitrates (Sec. IV-A), one
stage per call:

  python -m lic_jax train --config configs/cbanet/hp_paper_high.py:base   # then branch1, ...

A second model, as in the paper: the encoder preparation is bmshj2018 with
N=192, M=320 at the base lambda 8192, the BAMs have width P=320, and the
two lower bitrates are lambda 3251 and 5161 (ours; configs/cbanet/stages.py).
Everything else as configs/cbanet/hp_paper.py.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import hp_paper  # pylint: disable=g-import-not-at-top,wrong-import-position
import stages  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config(stage: str = "base"):
  c = stages.get_stage_config(
      stage, "runs/cbanet-hp-paper-high",
      model={**hp_paper.MODEL, "num_filters": 192, "num_latents": 320, "bam_width": 320},
      steps=hp_paper.STEPS,
      learning_rates={"base": 1e-4, "branch": 1e-4, "bam": 1e-4},
      paper_lambdas=stages.HIGH_LAMBDAS)
  c.data.crop_size = 256
  c.data.batch_size = 8
  return c
