"""OHM on natural images at CPU scale (Fig. 4): train on
../shared/data/train, evaluate on Kodak; the argument picks the form,
'code' (the authors' code's, the default: the one that trains) or
'paper' (Eq. 2 as written):

  python -m lic_jax train --config configs/ohm/kodak_ohm.py:code
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import setup  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config(form: str = ""):
  return setup.with_form(setup.natural_cpu("ohm"), form)
