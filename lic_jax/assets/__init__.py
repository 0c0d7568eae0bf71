"""Small files shipped inside the package (the quickstart sample images)."""

import os

QUICKSTART_IMAGES = os.path.join(os.path.dirname(__file__), "quickstart")
# Exported models shipped with the package (see lic_jax.codec export): one
# folder per family, one exported model per quality level in it (q1 = the
# lowest rate; lic_jax.sweep --export writes this layout).
PRETRAINED = os.path.join(os.path.dirname(__file__), "pretrained")
DEFAULT_FAMILY = "bmshj2018-cpu"
DEFAULT_QUALITY = 3
DEFAULT_MODEL = os.path.join(PRETRAINED, DEFAULT_FAMILY, f"q{DEFAULT_QUALITY}")
