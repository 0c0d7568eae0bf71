"""Balle et al. 2017, factorized prior (N = M = 128 for the lower rates)."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import base  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config():
  c = base.get_config()
  c.model = {"name": "bls2017", "num_filters": 128, "num_latents": 128,
             "simplified_gdn": False}
  c.workdir = "runs/bls2017"
  c.lmbda = 0.0130
  return c
