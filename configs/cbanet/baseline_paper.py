"""CBANet's baselines at the paper's scale: bmshj2018 (N=128, M=192) with
g_s of 60, 88 or 128 channels (the hyper networks at 128), one model per
bitrate (Table II's baseline; Table III's storage counts all of them):

  python -m lic_jax train --config configs/cbanet/baseline_paper.py:128 --config.lmbda=0.0157
  python -m lic_jax complexity --config configs/cbanet/baseline_paper.py:60

The base bitrate's lambda by default (stages.LOW_LAMBDAS); the training
settings are the CBANet stages' (configs/cbanet/hp_paper.py).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import stages  # pylint: disable=g-import-not-at-top,wrong-import-position

WIDTHS = (60, 88, 128)


def get_config(width: str = "128"):
  if int(width) not in WIDTHS:
    raise ValueError(f"g_s width {width} is not one of the paper's {WIDTHS}")
  c = stages.base.get_config()
  c.model = {"name": "bmshj2018", "num_filters": 128, "num_latents": 192,
             "synthesis_filters": int(width), "simplified_gdn": False}
  c.workdir = f"runs/cbanet-baseline-paper/gs{width}"
  c.lmbda = stages.lambdas(stages.LOW_LAMBDAS)[-1]
  c.data.crop_size = 256
  c.data.batch_size = 8
  c.num_steps = 3_000_000
  c.learning_rate = 1e-4
  return c
