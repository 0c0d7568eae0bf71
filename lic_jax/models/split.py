"""Moved to lic_jax.split.model, in the split-computing family's package: this
name keeps old imports working (it is that module)."""

import sys

from lic_jax.split import model

sys.modules[__name__] = model
