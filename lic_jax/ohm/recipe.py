"""OHM / INT quantization with rate adaptation (Löhdefink et al., Sec. 3):
one model for every bitrate, trained at a random quality per image.

Each image of a batch draws q ~ p(q) = 2q (Eq. 6), keeps the first n(q) maps
(Eq. 5) and weighs J = lambda(q) D + (1 - lambda(q)) R (Eq. 9-10), with R
the cross-entropy of its kept symbols in bits per pixel (Eq. 8) and D the
MSE (Eq. 7) on [0, 1] times config.distortion_scale^2: 1 is the paper's
[0, 1], 2 the [-1, 1] of the authors' MNIST code, 1/0.226 their
ImageNet-normalized natural images (configs/ohm/setup.py).

config.data.source: 'mnist' (the offline digits, 8k train / 2k held out,
lic_jax.labelled_data), 'mnist60k' (MNIST's 60k training digits, 54k of
them trained on as the authors do, the 10k test digits held out) or
'folder' / 'tfds' (random crops, lic_jax.data).
Evaluation: estimated bpp and PSNR at config.eval.qualities, on the held-out
digits or on the images of config.eval.directory.
"""

import jax
import jax.numpy as jnp
import numpy as np

from lic_jax import data as data_lib
from lic_jax import image as image_lib
from lic_jax import labelled_data
from lic_jax import metrics as metrics_lib
from lic_jax.models import model_from_config
from lic_jax.ohm.model import OHMAutoencoder, rd_weight, sample_quality
from lic_jax.recipes.base import Recipe, RecipeError, register


MNIST_SOURCES = ("mnist", "mnist60k")


class MNISTDigits:
  """The training digits of config.data.source as (B, 28, 28, 1) float32 in
  [0, 1], a pure function of (seed, step) like every source; no augmentation."""

  def __init__(self, config, process_index: int, process_count: int):
    images, labels = labelled_data.LOADERS[config.data.source](
        "train", config.data.directory or None)
    self._arrays = labelled_data.LabelledArrays(
        images, labels, config.data.batch_size, seed=config.seed, pad=0, flip=False,
        process_index=process_index, process_count=process_count)

  def iterate(self, start_step: int = 0):
    for batch in self._arrays.iterate(start_step):
      yield batch["image"]


def eval_images(config) -> np.ndarray | list[np.ndarray]:
  """The held-out images, float32 in [0, 1]: the held-out MNIST digits
  (2k of the offline half, or the 10k test digits) as one (N, 28, 28, 1)
  array, or a list of config.eval.directory's images (up to eval.max_images)."""
  limit = config.eval.get("max_images", 0)
  if config.data.source in MNIST_SOURCES:
    images, _ = labelled_data.LOADERS[config.data.source](
        "test", config.data.directory or None)
    images = images.astype(np.float32) / 255.0
    return images[:limit] if limit else images
  paths = image_lib.list_images(config.eval.directory)
  return [image_lib.read_image(p) for p in (paths[:limit] if limit else paths)]


def rate_distortion(model: OHMAutoencoder, params, x, quality, config, training: bool, key=None):
  """(per-image J, bpp, mse on [0, 1]) of images x at per-image qualities."""
  rngs = {"noise": key} if key is not None else {}
  out = model.apply({"params": params}, x, quality, training=training, rngs=rngs)
  bpp = out["bits"] / (x.shape[1] * x.shape[2])
  mse = jnp.mean(jnp.square(x - out["x_hat"]), axis=(1, 2, 3))
  lmbda = rd_weight(quality, *config.lambda_range)
  objective = lmbda * config.distortion_scale**2 * mse + (1.0 - lmbda) * bpp
  return objective, bpp, mse


class OHM(Recipe):
  """See the module docstring."""

  name = "ohm"
  models = ("ohm_autoencoder",)
  trains = "an OHM autoencoder"
  progress_metrics = ("loss", "bpp", "psnr")

  def check_config(self, config):
    super().check_config(config)
    model = model_from_config(config)
    low, high = config.lambda_range
    if not 0.0 < low <= high < 1.0:
      raise RecipeError(f"config.lambda_range {tuple(config.lambda_range)} must satisfy "
                        "0 < lambda_min <= lambda_max < 1 (Eq. 9)")
    source = config.data.source
    expected = MNIST_SOURCES if model.architecture == "mnist" else ("folder", "tfds")
    if source not in expected:
      raise RecipeError(f"data.source {source!r} does not fit the {model.architecture} "
                        f"architecture; use one of {', '.join(expected)}")

  def build_model(self, config):
    return model_from_config(config)

  def init_variables(self, model, config, key):
    size = 28 if model.architecture == "mnist" else config.data.crop_size
    dummy = jnp.zeros((1, size, size, model.image_channels), jnp.float32)
    return model.init({"params": key, "noise": key}, dummy, jnp.ones((1,)), training=True)

  def dataset(self, config, process_index=0, process_count=1):
    if config.data.source in MNIST_SOURCES:
      return MNISTDigits(config, process_index, process_count)
    return data_lib.build_dataset(config, process_index, process_count)

  def example_batch(self, config):
    size, channels = ((28, 1) if config.data.source in MNIST_SOURCES
                      else (config.data.crop_size, 3))
    return jax.ShapeDtypeStruct((config.data.batch_size, size, size, channels), jnp.float32)

  def loss(self, model, params, model_state, batch, key, config):
    quality_key, noise_key = jax.random.split(key)
    quality = sample_quality(quality_key, batch.shape[:1])
    objective, bpp, mse = rate_distortion(model, params, batch, quality, config,
                                          training=True, key=noise_key)
    loss = jnp.mean(objective)
    mse = jnp.mean(mse)
    return loss, {"loss": loss, "bpp": jnp.mean(bpp), "mse": mse,
                  "psnr": -10.0 * jnp.log10(mse)}, model_state

  def evaluate(self, model, variables, config, mesh=None):
    if config.data.source not in MNIST_SOURCES and not config.eval.directory:
      return None
    images = eval_images(config)
    params = variables["params"]

    # The parameters are an argument, not a constant the function closes
    # over: XLA would fold the prior's tables at compile time (seconds).
    @jax.jit
    def point(params, x, quality):
      out = model.apply({"params": params}, x, jnp.full(x.shape[:1], quality))
      return out["bits"] / (x.shape[1] * x.shape[2]), out["x_hat"]

    summary = {"num_images": len(images), "points": []}
    for quality in config.eval.qualities:
      bpp, psnr = [], []
      for x in _eval_batches(images, model.downsampling):
        b, x_hat = point(params, x, quality)
        bpp.append(np.asarray(b))
        psnr.append(np.asarray(metrics_lib.psnr(x, jnp.clip(x_hat, 0.0, 1.0))))
      summary["points"].append({"quality": float(quality),
                                "bpp": float(np.mean(np.concatenate(bpp))),
                                "psnr": float(np.mean(np.concatenate(psnr)))})
    return summary

  def eval_line(self, summary, config):
    points = "; ".join(f"q={p['quality']:g}: bpp={p['bpp']:.4f} psnr={p['psnr']:.2f}dB"
                       for p in summary["points"])
    return f"({summary['num_images']} held-out images, estimated rate) {points}"


def _eval_batches(images, multiple: int, batch: int = 500):
  """The MNIST digits (an array) in batches; other images one at a time,
  edge-padded to `multiple` (their PSNR then includes the padding: the
  codec's evaluation, benchmarks/ohm_rd.py, gives the exact numbers)."""
  if isinstance(images, np.ndarray):
    for i in range(0, len(images), batch):
      yield jnp.asarray(images[i:i + batch])
    return
  for image in images:
    yield jnp.asarray(image_lib.pad_to_multiple(image, multiple)[None])


register(OHM())
