"""The OHM family: one-hot max quantization with rate adaptation (Löhdefink et
al.) and its integer-rounding (INT) reference, one stream per feature map.

  model.py     the autoencoders, quantizers and categorical prior (Eq. 1-5)
  recipe.py    the training recipe 'ohm' (loss, data, evaluation)
  codec.py     MapCodec: real bitstreams of the maps Eq. 4-5 keep, truncatable
  curves.py    rate-distortion curves from real files, against the authors'
  cli.py       python -m lic_jax ohm compress | decompress | truncate
  __main__.py  runs cli.main
"""

from lic_jax import lend_tool_names

PARTS = ("model", "recipe", "codec", "curves", "cli")

__getattr__ = lend_tool_names(__name__, PARTS)
