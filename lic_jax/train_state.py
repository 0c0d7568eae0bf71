"""The training state and its optimizer, shared by training and evaluation."""

from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any


def _is_quantile(path) -> bool:
  return any(getattr(k, "key", None) == "quantiles" for k in path)


def make_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """Adam on the model, a separate Adam on the bottleneck quantiles.

  The quantiles are trained by the auxiliary loss alone (they do not enter
  the rate-distortion loss), at their own learning rate, as in CompressAI.
  """
  schedule = optax.piecewise_constant_schedule(
      config.learning_rate, {int(s): 0.1 for s in config.lr_drop_steps})
  main = optax.chain(optax.clip_by_global_norm(config.grad_clip),
                     optax.adam(schedule))
  aux = optax.adam(config.aux_learning_rate)

  def labels(params):
    return jax.tree_util.tree_map_with_path(
        lambda path, _: "aux" if _is_quantile(path) else "main", params)

  return optax.multi_transform({"main": main, "aux": aux}, labels)


def init_state(model, optimizer, config) -> TrainState:
  size = config.data.crop_size
  dummy = jnp.zeros((1, size, size, 3), jnp.float32)
  key = jax.random.PRNGKey(config.seed)
  params = model.init({"params": key, "noise": key}, dummy, training=True)["params"]
  return TrainState(step=jnp.asarray(0, jnp.int32), params=params,
                    opt_state=optimizer.init(params))
