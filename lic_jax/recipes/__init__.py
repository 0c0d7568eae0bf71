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
  stage keeps fixed (lic_jax.recipes.cbanet).
- aux_parts(config): parameter parts trained by the auxiliary Adam at
  config.aux_learning_rate instead of the main optimizer (densities fitted
  beside the task, lic_jax.recipes.grouping).
"""

import abc
from typing import Any

import ml_collections


class RecipeError(ValueError):
  """config.recipe (or a part of the config only a recipe reads) is wrong."""


class Recipe(abc.ABC):
  """The interface (see the module docstring)."""

  name: str = ""
  progress_metrics: tuple[str, ...] = ("loss",)

  def check_config(self, config: ml_collections.ConfigDict) -> None:
    """Raises RecipeError for a config this recipe cannot run, before the
    trainer touches the run directory (here: an unknown model name)."""
    from lic_jax.models import MODELS  # pylint: disable=g-import-not-at-top

    if config.model.name not in MODELS:
      raise RecipeError(f"unknown model {config.model.name!r} (config.model.name); "
                        f"known models: {', '.join(sorted(MODELS))}")

  def frozen_parts(self, config: ml_collections.ConfigDict) -> tuple[str, ...]:
    """Parameter path prefixes that do not train (see the module docstring)."""
    return tuple(config.get("freeze", ()))

  def aux_parts(self, config: ml_collections.ConfigDict) -> tuple[str, ...]:
    """Parameter path prefixes trained by the auxiliary Adam (see the module
    docstring)."""
    del config
    return ()

  @abc.abstractmethod
  def build_model(self, config: ml_collections.ConfigDict):
    """The Flax module config.model describes."""

  @abc.abstractmethod
  def init_variables(self, model, config: ml_collections.ConfigDict, key) -> dict:
    """Every variable collection of `model` at step 0 ({'params': ..., ...})."""

  @abc.abstractmethod
  def dataset(self, config: ml_collections.ConfigDict, process_index: int = 0,
              process_count: int = 1):
    """This process's input: iterate(start_step) yields its slice of each global batch."""

  @abc.abstractmethod
  def loss(self, model, params, model_state, batch, key,
           config: ml_collections.ConfigDict) -> tuple[Any, dict, dict]:
    """(objective to minimize, metrics, updated model_state) of one batch."""

  @abc.abstractmethod
  def evaluate(self, model, variables: dict, config: ml_collections.ConfigDict,
               mesh=None) -> dict | None:
    """The periodic evaluation's summary, or None if the config asks for none."""

  @abc.abstractmethod
  def eval_line(self, summary: dict, config: ml_collections.ConfigDict) -> str:
    """One line reporting an evaluate() summary."""


_RECIPES: dict[str, Recipe] = {}


def register(recipe: Recipe) -> Recipe:
  _RECIPES[recipe.name] = recipe
  return recipe


def names() -> list[str]:
  _load_builtin()
  return sorted(_RECIPES)


def get(config: ml_collections.ConfigDict) -> Recipe:
  """The recipe config.recipe names ('compression' for configs that predate
  recipes)."""
  _load_builtin()
  name = config.get("recipe", "compression")
  if name not in _RECIPES:
    raise RecipeError(f"unknown recipe {name!r}; known recipes: {', '.join(sorted(_RECIPES))}")
  return _RECIPES[name]


def _load_builtin() -> None:
  # On first use rather than at import: the recipe modules import this one
  # (Recipe, register), and importing lic_jax.recipes stays cheap.
  from lic_jax.recipes import cbanet, classification, compression, grouping, ohm, split  # pylint: disable=g-import-not-at-top,unused-import
