"""Moved to lic_jax.cbanet.recipe, in the CBANet family's package: this name
keeps old imports working (it is that module)."""

import sys

from lic_jax.cbanet import recipe

sys.modules[__name__] = recipe
