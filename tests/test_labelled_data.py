"""Labelled input: CIFAR-10 and MNIST from the offline data, deterministic
per step, sliced per host; TFDS classification datasets (mock data)."""

import gzip
import os

import numpy as np
import pytest

from conftest import DATA_ROOT, requires_tfds
from lic_jax import labelled_data


@pytest.fixture
def data_root():
  if not os.path.exists(os.path.join(DATA_ROOT, labelled_data.CIFAR10_FILE)):
    pytest.skip(f"CIFAR-10 subset not found under {DATA_ROOT} (set LIC_JAX_DATA)")
  return DATA_ROOT


def test_cifar10_subset_shapes(data_root):
  x, y = labelled_data.load_cifar10("train", data_root)
  assert x.shape == (20_000, 32, 32, 3) and x.dtype == np.uint8
  assert y.shape == (20_000,) and np.bincount(y).tolist() == [2000] * 10
  x, y = labelled_data.load_cifar10("test", data_root)
  assert x.shape == (5000, 32, 32, 3) and np.bincount(y).tolist() == [500] * 10


def test_mnist_is_split_8k_2k_the_same_way_every_time(data_root):
  x_train, y_train = labelled_data.load_mnist("train", data_root)
  x_test, y_test = labelled_data.load_mnist("test", data_root)
  assert x_train.shape == (8000, 28, 28, 1) and x_test.shape == (2000, 28, 28, 1)
  assert set(np.unique(y_train)) == set(range(10))
  again, _ = labelled_data.load_mnist("test", data_root)
  np.testing.assert_array_equal(again, x_test)
  # The two parts are disjoint: together they are the 10k digits, once each.
  everything = labelled_data.read_idx(os.path.join(data_root, labelled_data.MNIST_FILES[0]))
  both = np.concatenate([x_train, x_test])[..., 0].reshape(10_000, -1)
  assert sorted(map(bytes, both)) == sorted(map(bytes, everything.reshape(10_000, -1)))


def test_batches_depend_only_on_seed_and_step(data_root):
  x, y = labelled_data.load_cifar10("train", data_root)
  a = labelled_data.LabelledArrays(x, y, batch_size=16, seed=3)
  b = labelled_data.LabelledArrays(x, y, batch_size=16, seed=3)
  first = a.batch(11)
  assert first["image"].shape == (16, 32, 32, 3) and first["image"].dtype == np.float32
  assert 0.0 <= first["image"].min() and first["image"].max() <= 1.0
  assert first["label"].dtype == np.int32
  np.testing.assert_array_equal(b.batch(11)["image"], first["image"])
  assert not np.array_equal(a.batch(12)["image"], first["image"])
  resumed = b.iterate(start_step=11)
  np.testing.assert_array_equal(next(resumed)["label"], first["label"])
  np.testing.assert_array_equal(next(resumed)["image"], a.batch(12)["image"])
  other_seed = labelled_data.LabelledArrays(x, y, batch_size=16, seed=4).batch(11)
  assert not np.array_equal(other_seed["label"], first["label"])


def test_an_epoch_visits_every_example_once():
  images = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1) * np.ones((1, 2, 2, 1), np.uint8)
  labels = np.arange(10, dtype=np.int32)
  ds = labelled_data.LabelledArrays(images, labels, batch_size=5, seed=0, pad=0, flip=False)
  epoch0 = np.concatenate([ds.batch(0)["label"], ds.batch(1)["label"]])
  epoch1 = np.concatenate([ds.batch(2)["label"], ds.batch(3)["label"]])
  assert sorted(epoch0) == sorted(epoch1) == list(range(10))
  assert not np.array_equal(epoch0, epoch1)  # reshuffled
  np.testing.assert_array_equal(ds.batch(0)["image"][:, 0, 0, 0] * 255, ds.batch(0)["label"])


def test_process_slices_make_up_the_global_batch(data_root):
  x, y = labelled_data.load_cifar10("train", data_root)
  whole = labelled_data.LabelledArrays(x, y, batch_size=12, seed=1).batch(5)
  slices = [labelled_data.LabelledArrays(x, y, batch_size=12, seed=1, process_index=p,
                                         process_count=4).batch(5) for p in range(4)]
  for key in ("image", "label"):
    np.testing.assert_array_equal(np.concatenate([s[key] for s in slices]), whole[key])
  with pytest.raises(ValueError, match="does not split evenly over 5 processes"):
    labelled_data.LabelledArrays(x, y, batch_size=12, process_count=5)


def test_augmentation_is_a_padded_crop_and_a_flip():
  image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
  seen_flip = seen_shift = False
  for seed in range(40):
    out = labelled_data.pad_crop_flip(image, 4, True, np.random.default_rng(seed))
    assert out.shape == image.shape
    padded = np.pad(image, ((4, 4), (4, 4), (0, 0)))
    candidates = [padded[t:t + 32, l:l + 32] for t in range(9) for l in range(9)]
    flipped = any(np.array_equal(out[:, ::-1], c) for c in candidates)
    straight = any(np.array_equal(out, c) for c in candidates)
    assert flipped or straight
    seen_flip |= flipped and not straight
    seen_shift |= not np.array_equal(out, image) and not np.array_equal(out[:, ::-1], image)
  assert seen_flip and seen_shift


def test_eval_batches_cover_the_set_once_with_weights():
  images = np.zeros((23, 4, 4, 3), np.uint8)
  labels = np.arange(23, dtype=np.int32)
  seen = []
  for process in range(2):
    for batch in labelled_data.eval_batches(images, labels, 10, process, 2):
      assert batch["image"].shape == (5, 4, 4, 3)
      seen += batch["label"][batch["weight"] > 0].tolist()
  assert sorted(seen) == list(range(23))


def test_foreign_idx_file_is_refused(tmp_path):
  path = tmp_path / "bad.gz"
  with gzip.open(path, "wb") as f:
    f.write(b"\x00\x00\x08\x01\x00\x00\x00\x09abc")
  with pytest.raises(ValueError, match="header says"):
    labelled_data.read_idx(str(path))
  (tmp_path / "text").write_bytes(b"hello world")
  with pytest.raises(ValueError, match="not an idx file"):
    labelled_data.read_idx(str(tmp_path / "text"))


def test_missing_data_names_the_path(tmp_path):
  with pytest.raises(FileNotFoundError, match="cifar10_jpeg_subset.npz"):
    labelled_data.load_cifar10("train", str(tmp_path))


@pytest.mark.parametrize("name,size,channels", [("cifar10", 32, 3), ("mnist", 28, 1)])
@requires_tfds
def test_tfds_classification_with_mock_data(name, size, channels):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  with tfds.testing.mock_data(num_examples=40):
    ds = labelled_data.TFDSLabelled(name, "train", batch_size=4, image_size=size,
                                    training=True, seed=0)
    batches = ds.iterate(0)
    first = [next(batches) for _ in range(3)]
    for b in first:
      assert b["image"].shape == (4, size, size, channels) and b["image"].dtype == np.float32
      assert 0.0 <= b["image"].min() and b["image"].max() <= 1.0
      assert b["label"].shape == (4,) and b["label"].dtype == np.int32
    resumed = next(labelled_data.TFDSLabelled(name, "train", 4, size, True, seed=0).iterate(2))
    np.testing.assert_array_equal(resumed["image"], first[2]["image"])
    evaluation = list(labelled_data.TFDSLabelled(name, "test", 16, size, False).iterate())
    assert sum(len(b["label"]) for b in evaluation) == 40


@requires_tfds
def test_tfds_imagenet_crops_to_the_image_size():
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  with tfds.testing.mock_data(num_examples=4):
    train = next(labelled_data.TFDSLabelled("imagenet2012", "train", 2, 96, True).iterate())
    val = next(labelled_data.TFDSLabelled("imagenet2012", "validation", 2, 96,
                                          False).iterate())
  assert train["image"].shape == val["image"].shape == (2, 96, 96, 3)


def test_a_limited_evaluation_is_spread_over_the_classes(data_root):
  """eval.max_examples takes evenly spaced examples: the first 500 of our
  CIFAR-10 test split are all class 0."""
  from conftest import load_config  # pylint: disable=g-import-not-at-top
  from lic_jax.recipes import classification  # pylint: disable=g-import-not-at-top

  config = load_config("classify/cifar10_resnet")
  config.eval.max_examples = 500
  labels = np.concatenate([b["label"][b["weight"] > 0]
                           for b in classification.eval_batches(config)])
  assert len(labels) == 500
  assert np.bincount(labels, minlength=10).tolist() == [50] * 10


def _write_idx(path, array: np.ndarray):
  header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
  with gzip.open(path, "wb") as f:
    f.write(header + array.astype(np.uint8).tobytes())


def test_the_60k_training_digits_are_read_from_idx_files_and_split_54k_6k(tmp_path):
  """MNIST's 60k training digits (idx files under the data root; here a
  stand-in of 60,000 tiny digits whose pixel 0 counts them): the authors'
  54k / 6k split, disjoint, the same every time; the test split is the 10k
  test digits."""
  (tmp_path / "mnist").mkdir()
  count = np.arange(60_000)
  images = np.zeros((60_000, 28, 28), np.uint8)
  images[:, 0, 0], images[:, 0, 1] = count % 256, count // 256
  _write_idx(tmp_path / labelled_data.MNIST_60K_FILES[0], images)
  _write_idx(tmp_path / labelled_data.MNIST_60K_FILES[1], count % 10)
  train, train_labels = labelled_data.load_mnist_60k("train", str(tmp_path))
  validation, _ = labelled_data.load_mnist_60k("validation", str(tmp_path))
  assert train.shape == (54_000, 28, 28, 1) and validation.shape == (6000, 28, 28, 1)
  ids = lambda x: x[:, 0, 0, 0].astype(int) + 256 * x[:, 0, 1, 0].astype(int)
  assert sorted([*ids(train), *ids(validation)]) == list(range(60_000))
  np.testing.assert_array_equal(train_labels, ids(train) % 10)
  np.testing.assert_array_equal(labelled_data.load_mnist_60k("train", str(tmp_path))[0], train)


def test_missing_60k_digits_name_both_places(tmp_path, monkeypatch):
  monkeypatch.setattr(labelled_data, "_mnist_60k_from_tfds", lambda: None)
  with pytest.raises(FileNotFoundError, match=r"MNIST's 60k training digits not found: put "
                     r"mnist/train-images-idx3-ubyte.gz and .* or prepare TFDS 'mnist'"):
    labelled_data.load_mnist_60k("train", str(tmp_path))
