"""The learned-grouping family: images assigned to coding profiles (groups)
by a learned membership, each profile's features coded with its own density
(Fig. 1; the log-det rates of lic_jax.coding_rate, Eq. 10).

  model.py     GroupedClassifier: memberships, noises, profiles
  recipe.py    the training recipe 'grouping' (with the profiles' Adam)
  codec.py     GroupCodec: real streams, the profile index first
  cli.py       the sweep over its variants, the report and plots, and
               python -m lic_jax grouping sweep | report | encode | classify
  __main__.py  runs cli.main
"""

from lic_jax import lend_tool_names

PARTS = ("model", "recipe", "codec", "cli")

__getattr__ = lend_tool_names(__name__, PARTS)
