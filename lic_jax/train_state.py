"""The training state and its optimizer, shared by training and evaluation."""

from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax

from lic_jax import parts
from lic_jax import recipes


@flax.struct.dataclass
class TrainState:
  """step, trainable `params`, their optimizer state, and `model_state`: the
  model's other variable collections (batch-norm running averages; {} for
  models without any), updated by the forward pass rather than by gradients."""

  step: jax.Array
  params: Any
  opt_state: Any
  model_state: Any = flax.struct.field(default_factory=dict)


def _is_quantile(path) -> bool:
  return any(getattr(k, "key", None) == "quantiles" for k in path)


def _schedule(config: ml_collections.ConfigDict) -> optax.Schedule:
  """config.lr_schedule: 'piecewise' (x0.1 at each of config.lr_drop_steps)
  or 'cosine' (to 0 at config.num_steps); config.warmup_steps ramps it up
  linearly first."""
  kind = config.get("lr_schedule", "piecewise")
  warmup = config.get("warmup_steps", 0)
  if kind == "cosine":
    return optax.warmup_cosine_decay_schedule(
        0.0, config.learning_rate, warmup, max(config.num_steps, warmup + 1))
  if kind != "piecewise":
    raise ValueError(f"unknown lr_schedule {kind!r}; use 'piecewise' or 'cosine'")
  schedule = optax.piecewise_constant_schedule(
      config.learning_rate, {int(s): 0.1 for s in config.lr_drop_steps})
  if not warmup:
    return schedule
  return lambda step: schedule(step) * jnp.minimum(1.0, (step + 1) / warmup)


def _main_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """Clipping, L2 weight decay on kernels, then Adam or SGD with momentum."""
  name = config.get("optimizer", "adam")
  schedule = _schedule(config)
  if name == "adam":
    step = optax.adam(schedule)
  elif name == "sgd":
    step = optax.sgd(schedule, momentum=config.get("momentum", 0.9),
                     nesterov=config.get("nesterov", False))
  else:
    raise ValueError(f"unknown optimizer {name!r}; use 'adam' or 'sgd'")
  chain = []
  if config.grad_clip:
    chain.append(optax.clip_by_global_norm(config.grad_clip))
  if config.get("weight_decay", 0.0):
    # Kernels only: decaying biases and batch-norm scales hurts (Goyal et al. 2017).
    chain.append(optax.add_decayed_weights(
        config.weight_decay, mask=lambda p: jax.tree_util.tree_map(lambda a: a.ndim > 1, p)))
  return optax.chain(*chain, step)


def make_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """The main optimizer, a separate Adam on the bottleneck quantiles and the
  recipe's aux_parts, and nothing at all for the frozen parts (config.freeze
  and the recipe's).

  The quantiles are trained by the auxiliary loss alone (they do not enter
  the rate-distortion loss), at their own learning rate, as in CompressAI;
  so are the densities a recipe fits beside its task (its aux_parts).
  Frozen parameters get zero updates and no optimizer state (optax's
  multi_transform keeps state only for the leaves of each label).
  """
  recipe = recipes.get(config)
  frozen, aux = recipe.frozen_parts(config), recipe.aux_parts(config)

  def label(path, _):
    name = parts.path_name(path)
    if parts.in_any(name, frozen):
      return "frozen"
    return "aux" if _is_quantile(path) or parts.in_any(name, aux) else "main"

  def labels(params):
    return jax.tree_util.tree_map_with_path(label, params)

  transforms = {"main": _main_optimizer(config),
                "aux": optax.adam(config.get("aux_learning_rate", 1e-3))}
  if frozen:  # Only then, so that the state of runs without any is unchanged.
    transforms["frozen"] = optax.set_to_zero()
  return optax.multi_transform(transforms, labels)


def init_variables(model, config) -> dict:
  """The variables of config's recipe at step 0 ({'params': ..., **the
  model's other collections}), from config.seed."""
  recipe = recipes.get(config)
  return dict(recipe.init_variables(model, config, jax.random.PRNGKey(config.seed)))


def fresh_state(variables: dict, optimizer) -> TrainState:
  """Step 0 of `variables`: their parameters with a fresh optimizer state."""
  model_state = dict(variables)
  params = model_state.pop("params")
  return TrainState(step=jnp.asarray(0, jnp.int32), params=params,
                    opt_state=optimizer.init(params), model_state=model_state)


def init_state(model, optimizer, config) -> TrainState:
  """Step 0: the initial variables of config's recipe, a fresh optimizer state."""
  return fresh_state(init_variables(model, config), optimizer)
