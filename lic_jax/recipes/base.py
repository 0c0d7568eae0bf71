"""The Recipe interface (documented in lic_jax.recipes) and the registry
the recipe modules add themselves to."""

import abc
from typing import Any

import ml_collections


class RecipeError(ValueError):
  """config.recipe (or a part of the config only a recipe reads) is wrong."""


class Recipe(abc.ABC):
  """The interface (see the module docstring)."""

  name: str = ""
  progress_metrics: tuple[str, ...] = ("loss",)
  # What the recipe trains: (the model names it takes, what they are, in
  # words); () takes any model.
  models: tuple[str, ...] = ()
  trains: str = ""

  def check_config(self, config: ml_collections.ConfigDict) -> None:
    """Raises RecipeError for a config this recipe cannot run, before the
    trainer touches the run directory (here: an unknown model name, or one
    the recipe does not train)."""
    from lic_jax.models import MODELS  # pylint: disable=g-import-not-at-top

    if config.model.name not in MODELS:
      raise RecipeError(f"unknown model {config.model.name!r} (config.model.name); "
                        f"known models: {', '.join(sorted(MODELS))}")
    if self.models and config.model.name not in self.models:
      raise RecipeError(f"recipe {self.name!r} trains {self.trains} (config.model.name "
                        f"{' or '.join(map(repr, self.models))}), not {config.model.name!r}")

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

  def example_batch(self, config: ml_collections.ConfigDict):
    """One global training batch as jax.ShapeDtypeStructs, the structure
    dataset() yields, read from the config alone (to cost a step without
    the data: lic_jax.complexity)."""
    raise NotImplementedError(f"recipe {self.name!r} does not describe its batches")

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


def registered() -> dict[str, Recipe]:
  """The recipes registered so far, by name."""
  return dict(_RECIPES)
