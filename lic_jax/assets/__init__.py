"""Small files shipped inside the package (the quickstart sample images)."""

import os

QUICKSTART_IMAGES = os.path.join(os.path.dirname(__file__), "quickstart")
