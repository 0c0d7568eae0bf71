"""The INT reference on natural images at CPU scale (Fig. 4).

  python -m lic_jax train --config configs/ohm/kodak_int.py
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import setup  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config():
  return setup.natural_cpu("int")
