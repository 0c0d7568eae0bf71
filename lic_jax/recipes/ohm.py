"""Moved to lic_jax.ohm.recipe, in the OHM family's package: this name keeps
old imports working (it is that module)."""

import sys

from lic_jax.ohm import recipe

sys.modules[__name__] = recipe
