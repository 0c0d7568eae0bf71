"""Learned grouping (Chamain, Qi & Ding, Eq. 12): classification through a
quantized latent, with the grouped log-det rate bound as the rate.

config.model is a 'grouped_classifier' (lic_jax.grouping.model). The loss
of a batch Z (m latents) is

    L = CE(y, y_gt) + lambda * r^c(Z | eps, Pi) / pixels                   (12)
      + the profiles' own fit

with r^c the bound of Eq. 10 (uniform quantization noise) or Eq. 3
(noise='gaussian'), in bits per image (lic_jax.coding_rate), divided by the
image's pixels so that lambda (config.rate_lambda) weighs bits per pixel
against the cross-entropy in nats; Pi the head's memberships of the batch
and eps = 2s/sqrt(12), s trainable (Sec. III-B: lambda alone sets the rate).
Freezing 'log_step' (config.freeze) gives the fixed-eps ablation (Fig. 4)
and the Gaussian channel's fixed eps (Sec. IV).

The profiles' fit is the bits of each image's symbols under the entropy
model of its profile j = argmax (the one the coder uses), per pixel. Its
gradient reaches only the profiles (the symbols are detached and j is an
index), which Adam trains at config.aux_learning_rate (aux_parts) while the
rest follows the task's SGD. It makes the profiles real coders of the
latents without changing what the bound asks of the encoder.

Everything trains (encoder, head, step, classifier, profiles), from a run
trained without the rate (config.init_from; Sec. IV-A) or from scratch.
The periodic evaluation is the test accuracy through the quantized latent;
the bound on the test set and the actual bits of coded files come from
lic_jax.grouping.
"""

import jax.numpy as jnp

from lic_jax import coding_rate
from lic_jax.grouping.model import MEMBERSHIPS, NOISES, GroupedClassifier
from lic_jax.models import model_from_config
from lic_jax.recipes.base import RecipeError, register
from lic_jax.recipes.classification import Classification, cross_entropy


PROFILES = "profiles"


def _picked(values, index):
  """values[i, index[i]] of (B, k) values."""
  return jnp.take_along_axis(values, index[:, None], axis=1)[:, 0]


class Grouping(Classification):
  """See the module docstring."""

  name = "grouping"
  progress_metrics = ("loss", "accuracy", "rate", "coded")
  models = ("grouped_classifier",)
  trains = "a grouped classifier"

  def check_config(self, config):
    super().check_config(config)
    for key, known in (("memberships", MEMBERSHIPS), ("noise", NOISES)):
      if config.model.get(key, known[0]) not in known:
        raise RecipeError(f"unknown config.model.{key} {config.model[key]!r}; use one of "
                          f"{', '.join(known)}")
    if config.rate_lambda < 0:
      raise RecipeError(f"config.rate_lambda must be >= 0 (Eq. 12's lambda), got "
                        f"{config.rate_lambda}")
    if config.model.get("image_size", 32) != config.data.image_size:
      raise RecipeError(f"config.model.image_size {config.model.get('image_size', 32)} must "
                        f"equal config.data.image_size {config.data.image_size} (it fixes d)")

  def aux_parts(self, config):
    del config
    return (PROFILES,)

  def build_model(self, config) -> GroupedClassifier:
    return model_from_config(config)

  def loss(self, model, params, model_state, batch, key, config):
    out, updates = model.apply({"params": params, **model_state}, batch["image"],
                               training=True, method=model.forward, rngs={"noise": key},
                               mutable=list(model_state))
    pixels = batch["image"].shape[1] * batch["image"].shape[2]
    task = jnp.mean(cross_entropy(out["logits"], batch["label"], config.label_smoothing))
    bound = coding_rate.grouped_coding_rate(out["z"], out["eps"], out["membership"],
                                            quantization=model.noise == "quantization")
    coded = jnp.mean(_picked(out["profile_bits"], out["group"])) / pixels
    rate = bound / pixels
    loss = task + config.rate_lambda * rate + coded
    accuracy = jnp.mean(jnp.argmax(out["logits"], -1) == batch["label"])
    used = jnp.sum(jnp.max(jnp.eye(model.groups)[out["group"]], axis=0))
    return loss, {"loss": loss, "task_loss": task, "rate": rate, "coded": coded,
                  "accuracy": accuracy, "eps": out["eps"], "groups_used": used}, dict(updates)


register(Grouping())
