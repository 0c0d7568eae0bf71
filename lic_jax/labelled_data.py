"""Labelled images for the classification recipes: CIFAR-10 and MNIST from
the offline data sets, any TFDS classification dataset by name.

Like lic_jax.data, every source is *stateless in the step*: the global batch
of step s depends only on (seed, s). The training set is read in epochs,
each a permutation drawn from (seed, epoch); example i of step s is the
(s * batch_size + i)-th of that endless stream and is augmented with its own
RNG (seed, s, i), so the global batch is the same for any number of
processes and each process produces only its slice. Batches are
{'image': (n, H, W, C) float32 in [0, 1], 'label': (n,) int32}.
"""

import functools
import gzip
import os
from typing import Iterator

import numpy as np

from lic_jax import data as data_lib

CIFAR10_FILE = os.path.join("cifar10", "cifar10_jpeg_subset.npz")
MNIST_FILES = (os.path.join("mnist", "t10k-images-idx3-ubyte.gz"),
               os.path.join("mnist", "t10k-labels-idx1-ubyte.gz"))
# Our MNIST is the 10k test half; a fixed permutation splits it 8k / 2k.
MNIST_TRAIN_SIZE, MNIST_SPLIT_SEED = 8000, 0
# MNIST's 60k training digits, where a machine has them: the idx files
# beside the test half, else TFDS 'mnist'. The OHM authors train on a
# random 90 % of them (54k) and validate on the rest; our split is a fixed
# permutation of the same sizes (theirs is unseeded).
MNIST_60K_FILES = (os.path.join("mnist", "train-images-idx3-ubyte.gz"),
                   os.path.join("mnist", "train-labels-idx1-ubyte.gz"))
MNIST_60K_TRAIN_SIZE = 54_000
SOURCES = ("cifar10", "mnist", "mnist60k", "tfds")


def _path(relative: str, root: str | None) -> str:
  path = os.path.join(root or data_lib.data_root(), relative)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found (the offline data sets live in "
                            "../shared/data, or set LIC_JAX_DATA)")
  return path


def load_cifar10(split: str, root: str | None = None) -> tuple[np.ndarray, np.ndarray]:
  """(images (N, 32, 32, 3) uint8, labels (N,) int32) of 'train' (20k) or 'test' (5k)."""
  if split not in ("train", "test"):
    raise ValueError(f"CIFAR-10 has splits 'train' and 'test', not {split!r}")
  with np.load(_path(CIFAR10_FILE, root)) as f:
    return f[f"x_{split}"], f[f"y_{split}"].astype(np.int32).reshape(-1)


def read_idx(path: str) -> np.ndarray:
  """An idx file (MNIST's format; gzip or plain) as a uint8 array."""
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "rb") as f:
    data = f.read()
  if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
    raise ValueError(f"{path} is not an idx file of unsigned bytes")
  ndim = data[3]
  shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
  body = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
  if body.size != int(np.prod(shape)):
    raise ValueError(f"{path}: header says {shape}, the file holds {body.size} values")
  return body.reshape(shape)


def _digits(images_path: str, labels_path: str) -> tuple[np.ndarray, np.ndarray]:
  """(images (N, 28, 28, 1) uint8, labels (N,) int32) of a pair of idx files."""
  return read_idx(images_path)[..., None], read_idx(labels_path).astype(np.int32)


def _fixed_split(images: np.ndarray, labels: np.ndarray, first: int,
                 take_first: bool) -> tuple[np.ndarray, np.ndarray]:
  """The first `first` of a fixed permutation (MNIST_SPLIT_SEED, not the
  run's seed: every run holds out the same digits), or the rest."""
  order = np.random.default_rng(MNIST_SPLIT_SEED).permutation(len(labels))
  chosen = order[:first] if take_first else order[first:]
  return images[chosen], labels[chosen]


def load_mnist(split: str, root: str | None = None) -> tuple[np.ndarray, np.ndarray]:
  """(images (N, 28, 28, 1) uint8, labels (N,) int32) of 'train' (8k) or 'test' (2k)."""
  if split not in ("train", "test"):
    raise ValueError(f"MNIST has splits 'train' and 'test', not {split!r}")
  images, labels = _digits(*(_path(f, root) for f in MNIST_FILES))
  return _fixed_split(images, labels, MNIST_TRAIN_SIZE, split == "train")


def _idx_file(relative: str, root: str) -> str | None:
  """The idx file at root/relative, gzipped or plain, if either exists."""
  path = os.path.join(root, relative)
  return next((p for p in (path, path[:-len(".gz")]) if os.path.exists(p)), None)


def _mnist_60k_from_tfds() -> tuple[np.ndarray, np.ndarray] | None:
  """TFDS 'mnist' train split (60k) where it is installed and prepared."""
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    split = tfds.as_numpy(tfds.load("mnist", split="train", batch_size=-1, download=False))
  except Exception:  # pylint: disable=broad-except  # not installed, or not prepared
    return None
  return split["image"], split["label"].astype(np.int32)


def load_mnist_60k(split: str, root: str | None = None) -> tuple[np.ndarray, np.ndarray]:
  """(images (N, 28, 28, 1) uint8, labels (N,) int32) of 'train' (54k of
  MNIST's 60k training digits), 'validation' (the other 6k) or 'test' (the
  10k test digits). The 60k come from mnist/train-*-idx*-ubyte[.gz] under
  the data root, else from TFDS 'mnist'; neither: a FileNotFoundError
  naming both."""
  if split not in ("train", "validation", "test"):
    raise ValueError(f"MNIST 60k has splits 'train', 'validation' and 'test', not {split!r}")
  if split == "test":
    return _digits(*(_path(f, root) for f in MNIST_FILES))
  root = root or data_lib.data_root()
  files = [_idx_file(f, root) for f in MNIST_60K_FILES]
  if all(files):
    images, labels = _digits(*files)
  else:
    found = _mnist_60k_from_tfds()
    if found is None:
      raise FileNotFoundError(
          f"MNIST's 60k training digits not found: put {' and '.join(MNIST_60K_FILES)} "
          f"under {root} (LIC_JAX_DATA), or prepare TFDS 'mnist' "
          "(tfds.builder('mnist').download_and_prepare() on a machine with internet)")
    images, labels = found
  if images.shape[1:] != (28, 28, 1) or len(images) != len(labels):
    raise ValueError(f"MNIST 60k: {images.shape} images for {labels.shape} labels; "
                     "expected (N, 28, 28, 1) and (N,)")
  return _fixed_split(images, labels, MNIST_60K_TRAIN_SIZE, split == "train")


LOADERS = {"cifar10": load_cifar10, "mnist": load_mnist, "mnist60k": load_mnist_60k}


def pad_crop_flip(image: np.ndarray, pad: int, flip: bool,
                  rng: np.random.Generator) -> np.ndarray:
  """The standard CIFAR augmentation: a random crop of the zero-padded
  image, of its own size, then a horizontal flip with probability 1/2."""
  h, w = image.shape[:2]
  padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)))
  top, left = rng.integers(0, 2 * pad + 1, size=2)
  out = padded[top:top + h, left:left + w]
  return out[:, ::-1] if flip and rng.integers(2) else out


class LabelledArrays:
  """Epoch-shuffled, augmented batches of in-memory (images, labels)."""

  def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int,
               seed: int = 0, pad: int = 4, flip: bool = True,
               process_index: int = 0, process_count: int = 1):
    if len(images) != len(labels) or not len(images):
      raise ValueError(f"{len(images)} images and {len(labels)} labels")
    self.images, self.labels = images, labels
    self.batch_size, self.seed, self.pad, self.flip = batch_size, seed, pad, flip
    self.local_size = data_lib.local_size(batch_size, process_count)
    self.first_example = process_index * self.local_size
    self._order = functools.lru_cache(maxsize=4)(self._permutation)

  def _permutation(self, epoch: int) -> np.ndarray:
    return np.random.default_rng([self.seed, epoch]).permutation(len(self.labels))

  def batch(self, step: int) -> dict[str, np.ndarray]:
    """This process's slice of the global batch of training step `step`."""
    images, labels = [], []
    for i in range(self.first_example, self.first_example + self.local_size):
      epoch, position = divmod(step * self.batch_size + i, len(self.labels))
      index = self._order(epoch)[position]
      rng = np.random.default_rng([self.seed, step, i])
      images.append(pad_crop_flip(self.images[index], self.pad, self.flip, rng))
      labels.append(self.labels[index])
    return {"image": np.stack(images).astype(np.float32) / 255.0,
            "label": np.asarray(labels, np.int32)}

  def iterate(self, start_step: int = 0) -> Iterator[dict[str, np.ndarray]]:
    return data_lib.prefetch(self.batch(s) for s in data_lib.count(start_step))


def eval_batches(images: np.ndarray, labels: np.ndarray, batch_size: int,
                 process_index: int = 0, process_count: int = 1
                 ) -> Iterator[dict[str, np.ndarray]]:
  """The whole set in order, in global batches of `batch_size` (this
  process's slice of each); the last batch is filled up with copies of the
  first example at weight 0, so every batch has one shape."""
  local = data_lib.local_size(batch_size, process_count)
  for start in range(0, len(labels), batch_size):
    index = np.arange(start + process_index * local, start + (process_index + 1) * local)
    weight = (index < len(labels)).astype(np.float32)
    index = np.where(index < len(labels), index, 0)
    yield {"image": images[index].astype(np.float32) / 255.0,
           "label": labels[index].astype(np.int32), "weight": weight}


class TFDSLabelled:
  """A tensorflow-datasets classification dataset by name (cifar10,
  cifar100, mnist, imagenet2012, ...), on machines that have it.

  Training: small images (<= 64 px) get the pad-crop-flip augmentation;
  larger ones (ImageNet) a random-resized crop (8%-100% of the area, aspect
  3/4-4/3) to image_size and a flip (Szegedy et al. 2015, as in
  torchvision). Evaluation: small images as they are, larger ones resized
  to image_size / 0.875 on the short side and centre-cropped. Random
  choices come from stateless RNGs keyed on the element's index, so
  resuming at step s skips s * batch_size elements and continues exactly;
  the split is divided evenly between processes.
  """

  def __init__(self, name: str, split: str, batch_size: int, image_size: int,
               training: bool, seed: int = 0, data_dir: str | None = None,
               shuffle_buffer: int = 10_000, process_index: int = 0,
               process_count: int = 1):
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

    self.name, self.data_dir, self.training = name, data_dir, training
    self.split = (split if process_count == 1
                  else tfds.even_splits(split, n=process_count)[process_index])
    self.batch_size = data_lib.local_size(batch_size, process_count)
    self.image_size, self.seed, self.shuffle_buffer = image_size, seed, shuffle_buffer

  def _preprocess(self, index, example):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    image, size = example["image"], self.image_size
    key = tf.stack([tf.cast(self.seed, tf.int64), index])
    if size <= 64:
      image = tf.image.resize_with_crop_or_pad(image, size, size)
      if self.training:
        channels = image.shape[-1]
        image = tf.pad(image, [[4, 4], [4, 4], [0, 0]])
        image = tf.image.stateless_random_crop(image, (size, size, channels), seed=key)
        image = tf.image.stateless_random_flip_left_right(image, seed=key + 1)
    elif self.training:
      begin, crop, _ = tf.image.stateless_sample_distorted_bounding_box(
          tf.shape(image), tf.zeros((1, 0, 4)), seed=key, area_range=(0.08, 1.0),
          aspect_ratio_range=(3 / 4, 4 / 3), max_attempts=10,
          use_image_if_no_bounding_boxes=True)
      image = tf.slice(image, begin, crop)
      image = tf.image.resize(image, (size, size), antialias=True)
      image = tf.image.stateless_random_flip_left_right(image, seed=key + 1)
    else:
      shape = tf.cast(tf.shape(image)[:2], tf.float32)
      scale = (size / 0.875) / tf.reduce_min(shape)
      image = tf.image.resize(image, tf.cast(tf.round(shape * scale), tf.int32),
                              antialias=True)
      image = tf.image.resize_with_crop_or_pad(image, size, size)
    image = tf.clip_by_value(tf.cast(image, tf.float32), 0.0, 255.0) / 255.0
    return {"image": image, "label": tf.cast(example["label"], tf.int32)}

  def iterate(self, start_step: int = 0) -> Iterator[dict[str, np.ndarray]]:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

    ds = tfds.load(self.name, split=self.split, data_dir=self.data_dir, shuffle_files=False)
    if self.training:
      ds = ds.repeat().shuffle(self.shuffle_buffer, seed=self.seed,
                               reshuffle_each_iteration=True)
    ds = ds.enumerate().map(self._preprocess, num_parallel_calls=tf.data.AUTOTUNE,
                            deterministic=True)
    if self.training:
      ds = ds.skip(start_step * self.batch_size)
    ds = ds.batch(self.batch_size, drop_remainder=self.training)
    return iter(ds.prefetch(2).as_numpy_iterator())


def build_dataset(config, process_index: int = 0,
                  process_count: int = 1) -> LabelledArrays | TFDSLabelled:
  """This process's training input described by config.data."""
  c = config.data
  hosts = {"process_index": process_index, "process_count": process_count}
  if c.source in LOADERS:
    images, labels = LOADERS[c.source]("train", c.directory or None)
    return LabelledArrays(images, labels, c.batch_size, seed=config.seed,
                          pad=c.augment_pad, flip=c.augment_flip, **hosts)
  if c.source == "tfds":
    if not c.tfds_name:
      raise ValueError("data.source='tfds' needs data.tfds_name (e.g. 'cifar10')")
    return TFDSLabelled(c.tfds_name, c.tfds_split, c.batch_size, c.image_size,
                        training=True, seed=config.seed,
                        data_dir=c.tfds_data_dir or None, **hosts)
  raise ValueError(f"unknown data source {c.source!r}; use one of {', '.join(SOURCES)}")
