"""Balle et al. 2018, scale hyperprior, N=192 / M=320 (the higher-rate widths)."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import bmshj2018  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config():
  c = bmshj2018.get_config()
  c.model.num_filters = 192
  c.model.num_latents = 320
  c.workdir = "runs/bmshj2018_192_320"
  c.lmbda = 0.0483
  return c
