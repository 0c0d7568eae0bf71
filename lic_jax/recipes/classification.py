"""Image classification: cross-entropy on labelled images (CIFAR-10, MNIST,
any TFDS classification dataset), evaluated by test accuracy.

This trains the backbones that the split-computing and learned-grouping
methods build on. Batch norm trains on batch statistics and keeps running
averages in the state's model_state (so they are checkpointed and restored
with it); evaluation uses the running averages. Blocks of a ResNet that
config.freeze names also run on (and keep) their running averages.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lic_jax import labelled_data
from lic_jax import parallel
from lic_jax import parts
from lic_jax.models import model_from_spec
from lic_jax.recipes.base import Recipe, RecipeError, register


def cross_entropy(logits: jax.Array, labels: jax.Array,
                  label_smoothing: float = 0.0) -> jax.Array:
  """Per-example cross-entropy in nats, with optional label smoothing."""
  if not label_smoothing:
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  targets = optax.smooth_labels(jax.nn.one_hot(labels, logits.shape[-1]), label_smoothing)
  return optax.softmax_cross_entropy(logits, targets)


def apply_with_state(model, params, model_state, x, training: bool, **kwargs):
  """(output, updated model_state): the model's mutable collections (batch
  statistics) are updated only in training."""
  variables = {"params": params, **model_state}
  if training and model_state:
    out, updates = model.apply(variables, x, training=True, mutable=list(model_state),
                               **kwargs)
    return out, dict(updates)
  return model.apply(variables, x, training=training, **kwargs), model_state


class Classification(Recipe):
  """config.model: a classifier of lic_jax.models (e.g. cifar_resnet); data
  from config.data (lic_jax.labelled_data); loss: cross-entropy with
  config.label_smoothing; evaluation: accuracy on config.eval.split."""

  name = "classification"
  progress_metrics = ("loss", "accuracy")

  def check_config(self, config):
    super().check_config(config)
    source = config.data.source
    if source not in (*labelled_data.LOADERS, "tfds"):
      raise RecipeError(f"unknown data source {source!r} (config.data.source); use one of "
                        f"{', '.join((*labelled_data.LOADERS, 'tfds'))}")
    if source == "tfds" and not config.data.tfds_name:
      raise RecipeError("data.source='tfds' needs data.tfds_name (e.g. 'cifar10')")

  def build_model(self, config):
    spec = dict(config.model)
    model = model_from_spec(spec)
    frozen = self.frozen_parts(config)
    if frozen and hasattr(model, "split_names"):
      spec["frozen_blocks"] = tuple(b for b in model.split_names if parts.in_any(b, frozen))
      model = model_from_spec(spec)
    return model

  def init_variables(self, model, config, key):
    size, channels = config.data.image_size, config.data.channels
    dummy = jnp.zeros((1, size, size, channels), jnp.float32)
    return model.init({"params": key}, dummy, training=False)

  def dataset(self, config, process_index=0, process_count=1):
    return labelled_data.build_dataset(config, process_index, process_count)

  def example_batch(self, config):
    batch, size, channels = config.data.batch_size, config.data.image_size, config.data.channels
    return {"image": jax.ShapeDtypeStruct((batch, size, size, channels), jnp.float32),
            "label": jax.ShapeDtypeStruct((batch,), jnp.int32)}

  def loss(self, model, params, model_state, batch, key, config):
    logits, model_state = apply_with_state(model, params, model_state, batch["image"],
                                           training=True)
    loss = jnp.mean(cross_entropy(logits, batch["label"], config.label_smoothing))
    accuracy = jnp.mean(jnp.argmax(logits, -1) == batch["label"])
    return loss, {"loss": loss, "accuracy": accuracy}, model_state

  def evaluate(self, model, variables, config, mesh=None):
    return evaluate_classifier(model, variables, config, mesh)

  def eval_line(self, summary, config):
    return (f"({summary['num_examples']} {config.data.source} {summary['split']} "
            f"examples): accuracy={summary['accuracy']:.4f} "
            f"top-{TOP_K}={summary[f'accuracy_top{TOP_K}']:.4f} loss={summary['loss']:.4f}")


def eval_batches(config, process_index: int = 0, process_count: int = 1):
  """This process's slices of the evaluation set, each with a 'weight'."""
  c = config.data
  batch_size, limit = config.eval.batch_size, config.eval.get("max_examples", 0)
  if c.source in labelled_data.LOADERS:
    images, labels = labelled_data.LOADERS[c.source](config.eval.split, c.directory or None)
    if limit:
      # Evenly spaced, not the first `limit`: our CIFAR-10 test split is
      # sorted by class, and its first 500 images are all airplanes.
      keep = np.arange(min(limit, len(labels))) * len(labels) // min(limit, len(labels))
      images, labels = images[keep], labels[keep]
    yield from labelled_data.eval_batches(images, labels, batch_size, process_index,
                                          process_count)
    return
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  split = config.eval.split
  if limit:
    split = f"{split}[:{limit}]"
  if process_count > 1:  # Equal parts, so that every process runs as many batches.
    split = tfds.even_splits(split, n=process_count, drop_remainder=True)[process_index]
  local = batch_size // process_count
  source = labelled_data.TFDSLabelled(c.tfds_name, split, local, c.image_size,
                                      training=False, data_dir=c.tfds_data_dir or None)
  for batch in source.iterate():
    n = len(batch["label"])
    fill = np.zeros(local, np.intp)
    fill[:n] = np.arange(n)
    yield {"image": batch["image"][fill], "label": batch["label"][fill],
           "weight": (np.arange(local) < n).astype(np.float32)}


# Top-5 accuracy beside top-1: ImageNet results are usually top-5 (the
# learned-grouping paper's ImageNet-32 ones are).
TOP_K = 5


def top_k_correct(logits: jax.Array, labels: jax.Array, k: int = TOP_K) -> jax.Array:
  """1.0 where the label is among the k largest logits (all of them if
  there are fewer classes), else 0.0."""
  _, best = jax.lax.top_k(logits, min(k, logits.shape[-1]))
  return jnp.any(best == labels[:, None], axis=-1).astype(jnp.float32)


def evaluate_classifier(model, variables, config, mesh=None) -> dict:
  """{'accuracy', 'accuracy_top5', 'loss', 'num_examples', 'split'} over
  config.eval.split, with the running batch-norm averages; batches are
  split over `mesh`."""
  mesh = mesh or parallel.make_mesh({"data": -1})
  sharding = parallel.batch_sharding(mesh)
  parallel.check_batch_size(config.eval.batch_size, mesh)

  @jax.jit
  def sums(variables, batch):
    logits = model.apply(variables, batch["image"], training=False)
    w = batch["weight"]
    loss = cross_entropy(logits, batch["label"])
    correct = (jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32)
    top_k = top_k_correct(logits, batch["label"])
    return jnp.stack([jnp.sum(w * correct), jnp.sum(w * top_k), jnp.sum(w * loss), jnp.sum(w)])

  total = np.zeros(4)
  for batch in eval_batches(config, jax.process_index(), jax.process_count()):
    total += np.asarray(jax.device_get(sums(variables, parallel.global_batch(batch, sharding))))
  correct, top_k, loss, count = total
  return {"accuracy": float(correct / count), f"accuracy_top{TOP_K}": float(top_k / count),
          "loss": float(loss / count), "num_examples": int(count), "split": config.eval.split}


register(Classification())
