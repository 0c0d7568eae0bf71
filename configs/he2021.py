"""He et al. 2021, the checkerboard context on Minnen et al.'s mean-scale
hyperprior (model he2021), N=192 / M=192: the widths of the paper's anchor,
Minnen 2018 at its lower rates (use --config.model.num_latents=320 for the
higher rates), and everything else as configs/mbt2018.py, so that the two
contexts train alike. The schedule of the base config; the paper-scale one
is configs/tpu/v5e16_he2021.py.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import mbt2018  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config():
  c = mbt2018.get_config()
  c.model.name = "he2021"
  c.workdir = "runs/he2021"
  return c
