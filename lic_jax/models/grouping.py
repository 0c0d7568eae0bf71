"""Moved to lic_jax.grouping.model, in the learned-grouping family's package:
this name keeps old imports working (it is that module)."""

import sys

from lic_jax.grouping import model

sys.modules[__name__] = model
