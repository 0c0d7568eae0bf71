"""The bundled quality levels: the bundled model and four lambdas fine-tuned from it.

  python -m lic_jax sweep --config configs/bmshj2018_cpu_levels.py \
      --export lic_jax/assets/pretrained/bmshj2018-cpu

The family of configs/bmshj2018_cpu_sweep.py (bmshj2018 N=64, M=96), whose
lambda=0.0067 anchor is the bundled model; here that exported model is the
anchor as it is (its run directory is not needed), and each other lambda is
fine-tuned from it for the sweep's 700 steps. The export writes q1..q5 in
rate order, the anchor staying q3 (the default of lic_jax.codec).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import bmshj2018_cpu_sweep  # pylint: disable=g-import-not-at-top,wrong-import-position

from lic_jax.assets import DEFAULT_MODEL  # pylint: disable=g-import-not-at-top,wrong-import-order


def get_config():
  c = bmshj2018_cpu_sweep.get_config()
  c.workdir = "runs/bmshj2018-cpu-levels"
  c.sweep.name = "lic_jax-bmshj2018-cpu-levels"
  c.sweep.anchor_model = DEFAULT_MODEL
  c.sweep.lambdas = (0.0067, 0.0018, 0.0035, 0.0130, 0.0250)   # anchor first
  c.sweep.output = "results/kodak/lic_jax-bmshj2018-cpu-levels.json"
  return c
