"""What a model costs to store and run: parameters by part, and what a
decoder needs (Table III of CBANet counts decoder-side parameters).

A model names the parameter parts its decoder needs with
`decoder_parts(**level)` (for CBANet the bitrate and the complexity level
pick them); everything is counted from the parameter tree itself.
"""

import jax
import numpy as np

from lic_jax import parts as parts_lib


def parameter_count(params, parts: tuple[str, ...] | None = None) -> int:
  """The number of parameters (of the parts, if given: path prefixes)."""
  total = 0
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    if parts is None or parts_lib.in_any(parts_lib.path_name(path), parts):
      total += int(np.prod(np.shape(leaf)))
  return total


def decoder_parameters(model, params, **level) -> int:
  """Parameters a decoder of `model` needs (at `level`, for models with
  levels: CBANet's rate=j, num_branches=K)."""
  parts = model.decoder_parts(**level)
  parts_lib.check_parts(parts, parts_lib.paths(params), f"{type(model).__name__} decoder parts")
  return parameter_count(params, parts)
