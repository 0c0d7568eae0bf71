"""Task recipes: what one trainer (lic_jax.train) trains, on what, and how.

A method is a model + a recipe + a config, never a trainer of its own. The
trainer owns everything that does not depend on the task: the device mesh
and shardings, the jitted step, the optimizer with its frozen parts
(config.freeze), initialization from another run (config.init_from /
config.init_parts), checkpoints and exact resume, per-host input slices,
progress and metrics.jsonl. A recipe, chosen by config.recipe, gives it:

- build_model(config): the Flax module.
- init_variables(model, config, key): every variable collection at step 0.
- dataset(config, process_index, process_count): an object whose
  iterate(start_step) yields this process's slice of each global batch, a
  pure function of (seed, step), as numpy arrays (or a dict of them).
- loss(model, params, model_state, batch, key, config):
  (objective, metrics, new model_state), traced inside the jitted step;
  `key` is this step's RNG key, `model_state` the non-parameter collections
  (batch statistics).
- evaluate(model, variables, config, mesh): the periodic evaluation's
  summary, or None when the config asks for none; eval_line(summary, config)
  the one line that reports it.
- progress_metrics: the metrics the progress bar shows.
- frozen_parts(config): the parameter parts that do not train (zero
  updates, no optimizer state): config.freeze, plus what the recipe's
  stage keeps fixed (lic_jax.cbanet.recipe).
- aux_parts(config): parameter parts trained by the auxiliary Adam at
  config.aux_learning_rate instead of the main optimizer (densities fitted
  beside the task, lic_jax.grouping.recipe).
"""

import ml_collections

from lic_jax.recipes.base import Recipe, RecipeError, register, registered


def names() -> list[str]:
  _load_builtin()
  return sorted(registered())


def get(config: ml_collections.ConfigDict) -> Recipe:
  """The recipe config.recipe names ('compression' for configs that predate
  recipes)."""
  _load_builtin()
  name = config.get("recipe", "compression")
  recipes = registered()
  if name not in recipes:
    raise RecipeError(f"unknown recipe {name!r}; known recipes: {', '.join(sorted(recipes))}")
  return recipes[name]


def _load_builtin() -> None:
  # On first use rather than at import: importing lic_jax.recipes stays
  # cheap (the recipes import their data and models).
  # pylint: disable=g-import-not-at-top,unused-import
  from lic_jax.cbanet import recipe as cbanet_recipe
  from lic_jax.grouping import recipe as grouping_recipe
  from lic_jax.ohm import recipe as ohm_recipe
  from lic_jax.recipes import classification, compression
  from lic_jax.split import recipe as split_recipe


__all__ = ["Recipe", "RecipeError", "get", "names", "register"]
