"""Learned image compression: L = R + lambda * D on random image crops."""

import jax
import jax.numpy as jnp

from lic_jax import data as data_lib
from lic_jax import evaluation
from lic_jax.losses import DISTORTIONS, rate_distortion_loss
from lic_jax.models import model_from_config
from lic_jax.recipes.base import Recipe, RecipeError, register


class Compression(Recipe):
  """A model of lic_jax.models trained on config.lmbda and config.distortion,
  its bottleneck quantiles by the auxiliary loss; evaluated on the images of
  config.eval.directory (estimated bpp, PSNR, MS-SSIM)."""

  name = "compression"
  progress_metrics = ("loss", "bpp", "psnr")

  def check_config(self, config):
    super().check_config(config)
    if config.distortion not in DISTORTIONS:
      raise RecipeError(f"unknown distortion {config.distortion!r} (config.distortion); "
                        f"choose one of {', '.join(DISTORTIONS)}")
    source = config.data.source
    if source not in ("folder", "tfds"):
      raise RecipeError(f"unknown data source {source!r} (config.data.source); use 'folder' "
                        "or 'tfds'")
    if source == "tfds" and not config.data.tfds_name:
      raise RecipeError("data.source='tfds' needs data.tfds_name (e.g. 'clic')")

  def build_model(self, config):
    return model_from_config(config)

  def init_variables(self, model, config, key):
    size = config.data.crop_size
    dummy = jnp.zeros((1, size, size, 3), jnp.float32)
    return model.init({"params": key, "noise": key}, dummy, training=True)

  def dataset(self, config, process_index=0, process_count=1):
    return data_lib.build_dataset(config, process_index, process_count)

  def example_batch(self, config):
    size = config.data.crop_size
    return jax.ShapeDtypeStruct((config.data.batch_size, size, size, 3), jnp.float32)

  def loss(self, model, params, model_state, batch, key, config):
    output = model.apply({"params": params}, batch, training=True, rngs={"noise": key})
    loss, metrics = rate_distortion_loss(batch, output, config.lmbda, config.distortion)
    aux = model.apply({"params": params}, method=model.aux_loss)
    return loss + aux, dict(metrics, aux_loss=aux), model_state

  def evaluate(self, model, variables, config, mesh=None):
    if not config.eval.directory:
      return None
    return evaluation.evaluate_directory(model, variables["params"], config.eval.directory,
                                       max_images=config.eval.max_images)

  def eval_line(self, summary, config):
    return (f"({summary['num_images']} images from {config.eval.directory}): "
            f"{evaluation.format_metrics(summary['mean'])}")


register(Compression())
