"""Minnen & Singh 2020, channel-wise autoregressive prior with latent
residual prediction (model ms2020) at the paper's widths: N=192, M=320 at
every rate, 10 slices, a support of at most 5 slices. The schedule and
lambda of configs/mbt2018.py, so that the priors train alike; the
paper-scale run is configs/tpu/v5e16_ms2020.py.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import mbt2018  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config():
  c = mbt2018.get_config()
  c.model = {"name": "ms2020", "num_filters": 192, "num_latents": 320, "num_slices": 10,
             "max_support_slices": 5, "simplified_gdn": False}
  c.workdir = "runs/ms2020"
  return c
