"""Every paper-scale config is ready to run: built at the paper's widths,
2 training steps on a tiny batch, a checkpoint, an evaluation and one real
file, on the CPU. Crops, batches and evaluation sets shrink; widths do not.
(The configs' values against the papers: tests/test_paper_configs.py.)"""

import os
import shutil

import numpy as np
import pytest

from conftest import DATA_ROOT, ROOT, requires_tfds
from lic_jax import checkpoint as checkpoint_lib
from lic_jax import image as image_lib
from lic_jax import labelled_data
from lic_jax.codec import Codec
from lic_jax.train import load_config, train

KODAK = os.path.join(DATA_ROOT, "kodak", "kodim01.png")
requires_kodak = pytest.mark.skipif(not os.path.exists(KODAK),
                                    reason="the Kodak images are not in ../shared/data")


def _config(name: str):
  path, colon, arg = name.partition(":")
  return load_config(os.path.join(ROOT, "configs", f"{path}.py") + colon + arg)


def _tiny(config, workdir: str, **data):
  """The config with 2 steps of a tiny batch, checkpointed, its widths kept."""
  config.workdir = workdir
  config.num_steps, config.log_every, config.checkpoint_every = 2, 1, 2
  config.lr_drop_steps, config.quiet = (), True
  config.eval.every = 0
  for key, value in data.items():
    config.data[key] = value
  return config


def _crop(tmp_path, size: int) -> tuple[str, np.ndarray]:
  """(a folder holding one size x size crop of kodim01, the crop)."""
  folder = tmp_path / "eval"
  folder.mkdir(exist_ok=True)
  crop = image_lib.read_rgb_uint8(KODAK)[:size, :size]
  image_lib.write_image(str(folder / "crop.png"), crop)
  return str(folder), crop


def _trained(config) -> dict:
  result = train(config, config.workdir)
  assert sorted(result["losses"]) == [1, 2]
  assert all(np.isfinite(list(result["losses"].values())))
  checkpointer = checkpoint_lib.Checkpointer(config.workdir)
  assert checkpointer.latest_step() == 2
  checkpointer.close()
  return result


@requires_kodak
@pytest.mark.parametrize("name", ["hp_paper", "hp_paper_high", "ar_paper"])
def test_cbanet_paper_configs_train_evaluate_and_code(name, tmp_path):
  """The encoder preparation, then branch 1 on it, at the paper's N, M, P;
  the branch-1 run codes a real file."""
  folder, crop = _crop(tmp_path, 64)
  runs = {}
  for stage in ("base", "branch1"):
    config = _tiny(_config(f"cbanet/{name}:{stage}"), str(tmp_path / stage),
                   crop_size=64, batch_size=1)
    if config.get("init_from"):
      config.init_from = runs[config.init_from.rsplit("/", 1)[-1]]
    config.eval.directory, config.eval.max_images = folder, 1
    result = _trained(config)
    assert result["eval"]["num_images"] == 1
    runs[stage] = config.workdir
  codec = Codec.load(runs["branch1"])
  assert codec.model.num_filters == config.model.num_filters  # the paper's widths, loaded
  assert codec.decompress(codec.compress(crop)).shape == crop.shape


def _mnist_60k_stand_in(root) -> str:
  """A data root whose 'training digits' are the offline test digits under
  the 60k files' names (the 60k are not in ../shared/data)."""
  source = os.path.join(DATA_ROOT, "mnist")
  if not os.path.isdir(source):
    pytest.skip("the offline MNIST digits are not in ../shared/data")
  (root / "mnist").mkdir(parents=True)
  for ours, theirs in zip(labelled_data.MNIST_FILES, labelled_data.MNIST_60K_FILES):
    shutil.copy(os.path.join(DATA_ROOT, ours), root / ours)
    shutil.copy(os.path.join(DATA_ROOT, ours), root / theirs)
  return str(root)


def _ohm_code(run: str, image: np.ndarray) -> None:
  from lic_jax.ohm.codec import MapCodec  # pylint: disable=g-import-not-at-top
  codec = MapCodec.from_checkpoint(run)
  assert codec.decompress(codec.compress(image, quality=1.0)).shape == image.shape


def test_ohm_mnist_paper_config_trains_evaluates_and_codes(tmp_path):
  root = _mnist_60k_stand_in(tmp_path / "data")
  config = _tiny(_config("ohm/mnist_paper"), str(tmp_path / "run"), batch_size=4,
                 directory=root)
  config.eval.max_images = 8
  assert _trained(config)["eval"]
  digit = labelled_data.load_mnist_60k("test", root)[0][0]
  _ohm_code(config.workdir, digit)


@requires_kodak
def test_ohm_kodak_paper_config_trains_evaluates_and_codes(tmp_path):
  folder, crop = _crop(tmp_path, 64)
  config = _tiny(_config("ohm/kodak_paper"), str(tmp_path / "run"), batch_size=1,
                 crop_size=64)
  config.eval.directory, config.eval.max_images = folder, 1
  assert config.model.residual_blocks == 8 and config.model.num_maps == 480
  assert _trained(config)["eval"]
  _ohm_code(config.workdir, crop)


@requires_tfds
def test_split_imagenet_config_trains_evaluates_and_codes(tmp_path):
  """ResNet-50 at ImageNet's 1000 classes with a unit (TFDS mock data; the
  backbone random, as no converted torchvision checkpoint is here)."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from lic_jax.split.codec import FeatureBank  # pylint: disable=g-import-not-at-top
  config = _tiny(_config("split/imagenet_resnet50"), str(tmp_path / "run"), batch_size=2,
                 image_size=64)
  config.init_from, config.init_parts = "", ()
  config.eval.max_examples, config.eval.batch_size = 4, 4
  with tfds.testing.mock_data(num_examples=8):  # (mock data ignores the split's [:4])
    assert 0.0 <= _trained(config)["eval"]["accuracy_top5"] <= 1.0
  image = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
  bank = FeatureBank.from_runs([config.workdir], image[None] / 255.0)
  unit, logits = bank.classify(bank.encode(image, 0))
  assert unit == 0 and logits.shape == (1000,)


@requires_tfds
def test_grouping_paper_config_trains_evaluates_and_codes(tmp_path):
  """CIFAR-100 with k = 20 profiles (TFDS mock data), from scratch."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from lic_jax.grouping.codec import GroupCodec  # pylint: disable=g-import-not-at-top
  config = _tiny(_config("grouping/paper:cifar100,20,2.0,soft"), str(tmp_path / "run"),
                 batch_size=8)
  config.init_from, config.init_parts = "", ()
  config.eval.max_examples, config.eval.batch_size = 8, 8
  with tfds.testing.mock_data(num_examples=16):  # (mock data ignores the split's [:8])
    assert 0.0 <= _trained(config)["eval"]["accuracy_top5"] <= 1.0
  images = (np.random.default_rng(0).random((8, 32, 32, 3)) * 255).astype(np.uint8)
  codec = GroupCodec.from_run(config.workdir, images / 255.0)
  profile, logits = codec.classify(codec.encode(images[0]))
  assert 0 <= profile < 20 and logits.shape == (100,)
