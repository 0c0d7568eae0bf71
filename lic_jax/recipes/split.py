"""Moved to lic_jax.split.recipe, in the split-computing family's package:
this name keeps old imports working (it is that module)."""

import sys

from lic_jax.split import recipe

sys.modules[__name__] = recipe
