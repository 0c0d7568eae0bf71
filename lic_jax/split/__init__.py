"""The split-computing family: bottleneck units at a split point of a
classifier (Datta et al.), their features coded on the client and
classified on the server, and the search over the units' space.

  model.py     SplitClassifier: the backbone, its unit and rate models (Eq. 1)
  recipe.py    the training recipe 'split'
  codec.py     FeatureBank: real feature streams of a bank of units
  cli.py       the random search, Pareto frontiers, overhead (Table III), and
               python -m lic_jax split encode | classify | search | report | overhead
  __main__.py  runs cli.main
"""

from lic_jax import lend_tool_names

PARTS = ("model", "recipe", "codec", "cli")

__getattr__ = lend_tool_names(__name__, PARTS)
