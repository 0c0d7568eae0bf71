"""The INT reference on MNIST at CPU scale (Fig. 3b), C_Z = 8, 16 (default) or 32:

  python -m lic_jax train --config configs/ohm/mnist_int.py:16
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import setup  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config(num_maps: str = ""):
  return setup.mnist("int", setup.check_num_maps(num_maps))
