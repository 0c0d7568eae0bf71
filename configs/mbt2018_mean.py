"""Minnen et al. 2018, mean-scale hyperprior, N=192 / M=192
(the paper's lower-rate widths; use --config.model.num_latents=320 for the
higher rates)."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import base  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config():
  c = base.get_config()
  c.model = {"name": "mbt2018_mean", "num_filters": 192, "num_latents": 192,
             "simplified_gdn": False}
  c.workdir = "runs/mbt2018_mean"
  c.lmbda = 0.0130
  return c
