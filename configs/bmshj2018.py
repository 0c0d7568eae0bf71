"""Balle et al. 2018, scale hyperprior, N=128 / M=192 (the lower-rate widths).

For the higher rates use configs/bmshj2018_192_320.py (N=192, M=320).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import base  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config():
  c = base.get_config()
  c.model = {"name": "bmshj2018", "num_filters": 128, "num_latents": 192,
             "simplified_gdn": False}
  c.workdir = "runs/bmshj2018"
  c.lmbda = 0.0130
  return c
