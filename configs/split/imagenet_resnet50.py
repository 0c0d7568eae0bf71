r"""One bottleneck unit on ResNet-50 for ImageNet, the paper's setting (Sec.
IV: 224 x 224 inputs, split points layer4[2], layer4[1], layer4[0] and
layer3[4], Table II), for accelerators:

  python -m lic_jax train --config 'configs/split/imagenet_resnet50.py:layer4[0],64,2,-2,8' \
      --config.init_from=resnet50.npz --config.data.tfds_data_dir=gs://$BUCKET/tfds

The backbone is a pretrained ResNet-50 loaded from a converted checkpoint:
torchvision's state_dict saved as .npz (benchmarks/resnet_torchvision.py
writes and checks one; lic_jax.models.resnet_torchvision converts it), or a
run of configs/classify/imagenet_resnet50.py. Data: TFDS imagenet2012,
random-resized crops and flips, the validation split's centre crops for
evaluation. Training: 10 epochs of batch 256 (the paper trains units for
"under 15"), Adam 1e-3 with a cosine decay. Not run here (no ImageNet and
no accelerator in this workplace); the CIFAR configs are what ran.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import units  # pylint: disable=g-import-not-at-top,wrong-import-position

BACKBONE = {"name": "resnet50", "num_classes": 1000}
BATCH = 256
STEPS_PER_EPOCH = 1_281_167 // BATCH


def get_config(arg: str = "layer4[0],64,2,-2,8"):
  c = units.get_split_config(BACKBONE, units.parse_unit(arg), "runs/split/imagenet")
  c.init_from = "resnet50.npz"
  c.data.source = "tfds"
  c.data.tfds_name = "imagenet2012"
  c.data.image_size = 224
  c.data.batch_size = BATCH
  c.num_steps = 10 * STEPS_PER_EPOCH
  c.learning_rate = 1e-3
  c.lr_schedule = "cosine"
  c.log_every = 500
  c.checkpoint_every = STEPS_PER_EPOCH
  c.eval.split = "validation"
  c.eval.batch_size = 1000
  return c
