"""OHM on MNIST at CPU scale (Fig. 3b): 'C_Z[,form]', C_Z = 8, 16 (default)
or 32, form 'code' (the authors' code's form, the default: the one that
trains, see lic_jax.ohm.model) or 'paper' (Eq. 2 as written):

  python -m lic_jax train --config configs/ohm/mnist_ohm.py:8,code
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import setup  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config(arg: str = ""):
  num_maps, _, form = arg.partition(",")
  return setup.with_form(setup.mnist("ohm", setup.check_num_maps(num_maps)), form)
