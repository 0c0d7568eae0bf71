"""Moved to lic_jax.ohm.curves, in the OHM family's package: this name keeps
old imports working (it is that module)."""

import sys

from lic_jax.ohm import curves

sys.modules[__name__] = curves
