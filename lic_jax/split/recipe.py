"""Bottleneck units for split computing (Datta et al., Sec. II-III): the
classification recipe with a frozen backbone and L = Lr + alpha Lt (Eq. 1).

config.model is a 'split_classifier' (lic_jax.split.model): the backbone's
spec, the split point and the unit's (Cr, S, Q, rate model). The backbone
comes from its own trained run (config.init_from with init_parts
('backbone=',): the run's whole tree into 'backbone') and never trains: its
parameters are frozen (zero updates, no optimizer state) and it runs on its
batch-norm running averages, which stay as they were (Sec. III-B).

Lt is the cross-entropy in nats; Lr, per image and divided by its pixels,
is the l1 norm of the symbols round(y / Q) ('l1', the paper's proxy) or
their bits under the unit's entropy bottleneck ('entropy': bits per pixel).
The periodic evaluation is the test accuracy through the quantized unit;
the actual bits come from the feature codec (lic_jax.split.codec).
"""

import jax
import jax.numpy as jnp

from lic_jax.models import model_from_config
from lic_jax.recipes.base import RecipeError, register
from lic_jax.recipes.classification import Classification, cross_entropy
from lic_jax.split.model import RATE_MODELS, SplitClassifier, split_channels

BACKBONE = "backbone"


class Split(Classification):
  """See the module docstring."""

  name = "split"
  progress_metrics = ("loss", "accuracy", "rate")
  models = ("split_classifier",)
  trains = "a bottleneck unit"

  def check_config(self, config):
    super().check_config(config)
    if config.model.get("rate_model", "l1") not in RATE_MODELS:
      raise RecipeError(f"unknown config.model.rate_model {config.model.rate_model!r}; use "
                        f"one of {', '.join(RATE_MODELS)}")
    if not config.alpha > 0:
      raise RecipeError(f"config.alpha must be positive (L = Lr + alpha Lt), got "
                        f"{config.alpha}")
    try:
      split_channels(config.model.network, config.model.split)
    except ValueError as e:
      raise RecipeError(f"config.model: {e}") from None

  def build_model(self, config) -> SplitClassifier:
    return model_from_config(config)

  def frozen_parts(self, config):
    return (*super().frozen_parts(config), BACKBONE)

  def loss(self, model, params, model_state, batch, key, config):
    # No gradient flows into the frozen backbone's parameters at all, so XLA
    # computes none of theirs (the tail still passes gradients to the unit).
    params = {**params, BACKBONE: jax.lax.stop_gradient(params[BACKBONE])}
    out = model.apply({"params": params, **model_state}, batch["image"], method=model.forward)
    pixels = batch["image"].shape[1] * batch["image"].shape[2]
    task = jnp.mean(cross_entropy(out["logits"], batch["label"], config.label_smoothing))
    rate = jnp.mean(out["rate"]) / pixels
    loss = rate + config.alpha * task
    accuracy = jnp.mean(jnp.argmax(out["logits"], -1) == batch["label"])
    return loss, {"loss": loss, "task_loss": task, "rate": rate,
                  "accuracy": accuracy}, model_state


register(Split())
