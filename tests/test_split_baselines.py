"""benchmarks/split_baselines.py: the baselines read a unit config's own
evaluation images (Table IV's ImageNet validation crops for the ResNet-50
config), as 8-bit images of the size the units see."""

import os
import sys

import numpy as np
import pytest

from conftest import DATA_ROOT, ROOT, load_config, requires_tfds
from lic_jax import labelled_data

sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import split_baselines  # noqa: E402  pylint: disable=wrong-import-position


@pytest.mark.skipif(not os.path.exists(os.path.join(DATA_ROOT, labelled_data.CIFAR10_FILE)),
                    reason="the CIFAR-10 subset is not in ../shared/data")
def test_a_cifar_unit_config_gives_its_evaluation_images_as_uint8():
  config = load_config("split/cifar")
  images, labels = split_baselines.evaluation_images(config, 10)
  test_images, test_labels = labelled_data.load_cifar10("test")
  keep = np.arange(10) * len(test_labels) // 10  # eval_batches' evenly spaced subset
  np.testing.assert_array_equal(images, test_images[keep])
  np.testing.assert_array_equal(labels, test_labels[keep])


@requires_tfds
def test_the_imagenet_unit_config_gives_224_pixel_validation_crops():
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  config = load_config("split/imagenet_resnet50")
  with tfds.testing.mock_data(num_examples=6):
    images, labels = split_baselines.evaluation_images(config, 4)
  assert images.shape == (4, 224, 224, 3) and images.dtype == np.uint8
  assert labels.shape == (4,) and config.eval.split == "validation"


def test_a_npz_backbone_without_its_network_is_a_clear_error():
  with pytest.raises(SystemExit, match="a .npz backbone needs --config"):
    split_baselines.classifier("resnet50.npz")
