"""Input pipelines: crops, determinism per step, odd/gray/RGBA/corrupt files, TFDS."""

import numpy as np
import pytest
from PIL import Image

from conftest import requires_tfds
from lic_jax import data as data_lib
from lic_jax.assets import QUICKSTART_IMAGES


def _write(path, array, mode=None):
  Image.fromarray(array, mode).save(path)


@pytest.fixture
def mixed_folder(tmp_path):
  rng = np.random.default_rng(0)
  _write(tmp_path / "rgb.png", rng.integers(0, 256, (70, 90, 3), dtype=np.uint8))
  _write(tmp_path / "gray.png", rng.integers(0, 256, (81, 77), dtype=np.uint8))
  rgba = rng.integers(0, 256, (40, 30, 4), dtype=np.uint8)  # smaller than the crop
  rgba[..., 3] = 255
  _write(tmp_path / "rgba.png", rgba)
  (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really" * 10)
  with open(tmp_path / "truncated.jpg", "wb") as f:
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(f, "JPEG")
  data = (tmp_path / "truncated.jpg").read_bytes()
  (tmp_path / "truncated.jpg").write_bytes(data[:200])
  (tmp_path / "notes.txt").write_text("not an image")
  return tmp_path


def test_folder_batches_have_the_right_shape_and_range():
  ds = data_lib.ImageFolder(QUICKSTART_IMAGES, crop_size=96, batch_size=3, seed=0)
  batch = ds.batch(0)
  assert batch.shape == (3, 96, 96, 3) and batch.dtype == np.float32
  assert 0.0 <= batch.min() and batch.max() <= 1.0 and batch.std() > 0.05


def test_folder_batches_depend_only_on_seed_and_step():
  a = data_lib.ImageFolder(QUICKSTART_IMAGES, 64, 2, seed=1)
  b = data_lib.ImageFolder(QUICKSTART_IMAGES, 64, 2, seed=1)
  np.testing.assert_array_equal(a.batch(7), b.batch(7))
  assert not np.array_equal(a.batch(7), a.batch(8))
  it = b.iterate(start_step=7)
  np.testing.assert_array_equal(next(it), a.batch(7))
  np.testing.assert_array_equal(next(it), a.batch(8))


def test_folder_handles_gray_rgba_small_and_corrupt_files(mixed_folder, caplog):
  ds = data_lib.ImageFolder(str(mixed_folder), crop_size=64, batch_size=16, seed=0)
  assert len(ds.files) == 5  # notes.txt is not listed
  batches = [ds.batch(s) for s in range(4)]
  assert all(b.shape == (16, 64, 64, 3) for b in batches)
  assert {"corrupt.png", "truncated.jpg"} == {
      f.rsplit("/", 1)[-1] for i, f in enumerate(ds.files) if i in ds._bad}  # pylint: disable=protected-access
  assert "skipping unreadable image" in caplog.text


def test_crop_or_pad_mirrors_small_images():
  img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
  out = data_lib.crop_or_pad(img, 5, np.random.default_rng(0))
  assert out.shape == (5, 5, 3)
  np.testing.assert_array_equal(out[:2, :3], img)


def test_folder_errors():
  with pytest.raises(FileNotFoundError, match="does not exist"):
    data_lib.ImageFolder("/nonexistent/folder", 64, 2)


def test_empty_folder_error(tmp_path):
  with pytest.raises(FileNotFoundError, match="no images"):
    data_lib.ImageFolder(str(tmp_path), 64, 2)


@requires_tfds
def test_tfds_pipeline_with_mock_data():
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  with tfds.testing.mock_data(num_examples=20):
    ds = data_lib.TFDSImages("cifar10", crop_size=48, batch_size=4, seed=0)
    batches = ds.iterate(0)
    first = [next(batches) for _ in range(3)]
    assert all(b.shape == (4, 48, 48, 3) and b.dtype == np.float32 for b in first)
    assert 0.0 <= min(b.min() for b in first) and max(b.max() for b in first) <= 1.0
    # Resuming at step 2 yields what the uninterrupted stream yielded there.
    resumed = next(data_lib.TFDSImages("cifar10", 48, 4, seed=0).iterate(2))
    np.testing.assert_array_equal(resumed, first[2])
