"""Small files shipped inside the package (the quickstart sample images)."""

import os

QUICKSTART_IMAGES = os.path.join(os.path.dirname(__file__), "quickstart")
# Exported models shipped with the package (see lic_jax.codec export).
PRETRAINED = os.path.join(os.path.dirname(__file__), "pretrained")
DEFAULT_MODEL = os.path.join(PRETRAINED, "bmshj2018-cpu")
