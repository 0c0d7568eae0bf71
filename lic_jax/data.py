"""Training input: batches of random crops from an image folder or a TFDS dataset.

Both sources are *stateless in the step*: the batch of step s depends only on
(seed, s). A run resumed from a checkpoint at step s therefore sees exactly
the batches an uninterrupted run would have seen.

Multi-host: with process_count = P, each process produces only its slice
(batch_size / P examples) of every global batch. For the folder source the
global batch is the same for any P (example i of step s is drawn from its own
RNG (seed, s, i)); a TFDS dataset is split evenly between the processes,
each reading only its part.
"""

import functools
import os
import queue
import threading
from typing import Iterator

import numpy as np
from absl import logging

from lic_jax import image as image_lib

_DEFAULT_DATA_ROOT = os.path.join("..", "shared", "data")


def data_root() -> str:
  """Root of the offline data sets: $LIC_JAX_DATA, else ../shared/data."""
  return os.environ.get("LIC_JAX_DATA", _DEFAULT_DATA_ROOT)


def crop_or_pad(img: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
  """A random size x size crop; sides shorter than `size` are mirror-padded."""
  h, w = img.shape[:2]
  pad_h, pad_w = max(0, size - h), max(0, size - w)
  if pad_h or pad_w:
    img = np.pad(img, ((0, pad_h), (0, pad_w), (0, 0)), mode="symmetric")
    h, w = img.shape[:2]
  top = int(rng.integers(0, h - size + 1))
  left = int(rng.integers(0, w - size + 1))
  return img[top:top + size, left:left + size]


class ImageFolder:
  """Random crops of the images in a directory, sampled with replacement.

  Decoded images are kept in an LRU cache of `cache_size` entries. Files that
  fail to decode are skipped with a warning and never drawn again; a folder
  in which no file decodes is refused at construction, before any training
  work (ImageReadError).
  """

  def __init__(self, directory: str, crop_size: int, batch_size: int,
               seed: int = 0, cache_size: int = 512, process_index: int = 0,
               process_count: int = 1):
    self.files = image_lib.list_images(directory)
    if not self.files:
      raise FileNotFoundError(f"no images ({', '.join(image_lib.IMAGE_EXTENSIONS)}) "
                              f"in {directory!r}")
    self.crop_size, self.batch_size, self.seed = crop_size, batch_size, seed
    self.local_size = local_size(batch_size, process_count)
    self.first_example = process_index * self.local_size
    self._bad: set[int] = set()
    self._load = functools.lru_cache(maxsize=cache_size)(self._read)
    self._check_readable(directory)

  def _check_readable(self, directory: str) -> None:
    """Reads files in order until one decodes (usually the first)."""
    for index in range(len(self.files)):
      if self._load(index) is not None:
        return
      self._bad.add(index)
    raise image_lib.ImageReadError(
        f"none of the {len(self.files)} image files in {directory!r} can be read "
        f"(the first, {self.files[0]!r}, is not a readable image)")

  def _read(self, index: int) -> np.ndarray | None:
    try:
      return image_lib.read_rgb_uint8(self.files[index])
    except (OSError, ValueError, SyntaxError) as e:
      logging.warning("skipping unreadable image %s: %s", self.files[index], e)
      return None

  def _draw(self, rng: np.random.Generator) -> np.ndarray:
    while len(self._bad) < len(self.files):
      index = int(rng.integers(len(self.files)))
      if index in self._bad:
        continue
      img = self._load(index)
      if img is None:
        self._bad.add(index)
        continue
      return crop_or_pad(img, self.crop_size, rng)
    raise image_lib.ImageReadError(f"none of the {len(self.files)} images could be read")

  def batch(self, step: int) -> np.ndarray:
    """This process's (batch_size / process_count, crop, crop, 3) float32 slice,
    in [0, 1], of the global batch of training step `step`."""
    examples = range(self.first_example, self.first_example + self.local_size)
    crops = [self._draw(np.random.default_rng([self.seed, step, i])) for i in examples]
    return np.stack(crops).astype(np.float32) / 255.0

  def iterate(self, start_step: int = 0) -> Iterator[np.ndarray]:
    return prefetch(self.batch(s) for s in count(start_step))


class TFDSImages:
  """Random crops from a tensorflow-datasets image dataset, by name.

  The dataset is read in a fixed order, shuffled with a fixed seed and
  repeated; crop offsets come from stateless RNGs keyed on the element index,
  so resuming at step s skips s * batch_size elements and continues exactly.
  """

  def __init__(self, name: str, crop_size: int, batch_size: int, seed: int = 0,
               split: str = "train", data_dir: str | None = None,
               image_key: str = "image", shuffle_buffer: int = 1000,
               process_index: int = 0, process_count: int = 1):
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

    self.name, self.data_dir = name, data_dir
    self.split = (split if process_count == 1
                  else tfds.even_splits(split, n=process_count)[process_index])
    self.crop_size, self.seed = crop_size, seed
    self.batch_size = local_size(batch_size, process_count)
    self.image_key, self.shuffle_buffer = image_key, shuffle_buffer

  def _dataset(self, start_step: int):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

    size, seed = self.crop_size, self.seed

    def crop(index, example):
      img = example[self.image_key]
      img = img[..., :3] if img.shape[-1] != 1 else tf.tile(img, [1, 1, 3])
      shape = tf.shape(img)
      pad_h, pad_w = tf.maximum(0, size - shape[0]), tf.maximum(0, size - shape[1])
      img = tf.pad(img, [[0, pad_h], [0, pad_w], [0, 0]], mode="SYMMETRIC")
      img = tf.image.stateless_random_crop(
          img, (size, size, 3), seed=tf.stack([tf.cast(seed, tf.int64), index]))
      return tf.cast(img, tf.float32) / 255.0

    ds = tfds.load(self.name, split=self.split, data_dir=self.data_dir,
                   shuffle_files=False)
    ds = ds.repeat().shuffle(self.shuffle_buffer, seed=seed,
                             reshuffle_each_iteration=True)
    ds = ds.enumerate().map(crop, num_parallel_calls=tf.data.AUTOTUNE,
                            deterministic=True)
    ds = ds.skip(start_step * self.batch_size).batch(self.batch_size, drop_remainder=True)
    return ds.prefetch(2)

  def iterate(self, start_step: int = 0) -> Iterator[np.ndarray]:
    return iter(self._dataset(start_step).as_numpy_iterator())


def local_size(batch_size: int, process_count: int) -> int:
  if batch_size % process_count:
    raise ValueError(f"batch size {batch_size} does not split evenly over "
                     f"{process_count} processes")
  return batch_size // process_count


def count(start: int) -> Iterator[int]:
  while True:
    yield start
    start += 1


def prefetch(iterator: Iterator[np.ndarray], depth: int = 2) -> Iterator[np.ndarray]:
  """Runs `iterator` in a background thread, `depth` items ahead."""
  buffer: queue.Queue = queue.Queue(maxsize=depth)
  stop = object()

  def worker():
    try:
      for item in iterator:
        buffer.put(item)
    except Exception as e:  # pylint: disable=broad-except
      buffer.put(e)
    buffer.put(stop)

  threading.Thread(target=worker, daemon=True).start()
  while True:
    item = buffer.get()
    if item is stop:
      return
    if isinstance(item, Exception):
      raise item
    yield item


def build_dataset(config, process_index: int = 0,
                  process_count: int = 1) -> ImageFolder | TFDSImages:
  """This process's training input described by config.data ('folder' or 'tfds')."""
  c = config.data
  hosts = {"process_index": process_index, "process_count": process_count}
  if c.source == "folder":
    return ImageFolder(c.directory or os.path.join(data_root(), "train"),
                       c.crop_size, c.batch_size, seed=config.seed, **hosts)
  if c.source == "tfds":
    return TFDSImages(c.tfds_name, c.crop_size, c.batch_size, seed=config.seed,
                      split=c.tfds_split, data_dir=c.tfds_data_dir or None, **hosts)
  raise ValueError(f"unknown data source {c.source!r}; use 'folder' or 'tfds'")
