r"""ResNet-50 on ImageNet (TFDS imagenet2012) for accelerators, the standard
schedule of Goyal et al. (2017): global batch 1024, SGD with momentum 0.9,
learning rate 0.1 * 1024 / 256 = 0.4 with 5 warm-up epochs, x0.1 after
epochs 30, 60 and 80 of 90, weight decay 1e-4 on kernels, each block's last
batch-norm scale starting at zero; random-resized 224 crops and flips in
training, 224 centre crops of the 256-resized images for evaluation.

On a Cloud TPU v5e-16 slice (64 images per chip), every host at once, with
the TFDS data and the run directory on a bucket (see configs/tpu/):

  python -m lic_jax train --config configs/classify/imagenet_resnet50.py \
      --config.data.tfds_data_dir=gs://$BUCKET/tfds --workdir /gcs/$BUCKET/runs/resnet50

To start from torchvision's weights instead (a state_dict saved as .npz,
lic_jax.models.resnet_torchvision): --config.init_from=resnet50.npz.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
import base  # pylint: disable=g-import-not-at-top,wrong-import-position

BATCH = 1024
STEPS_PER_EPOCH = 1_281_167 // BATCH


def get_config():
  c = base.classification(base.get_config())
  c.model = {"name": "resnet50", "num_classes": 1000, "zero_init_residual": True}
  c.workdir = "runs/imagenet_resnet50"
  c.distributed = True
  c.data.source = "tfds"
  c.data.tfds_name = "imagenet2012"
  c.data.image_size = 224
  c.data.batch_size = BATCH
  c.num_steps = 90 * STEPS_PER_EPOCH
  c.learning_rate = 0.1 * BATCH / 256
  c.nesterov = False
  c.lr_schedule = "piecewise"
  c.lr_drop_steps = tuple(e * STEPS_PER_EPOCH for e in (30, 60, 80))
  c.warmup_steps = 5 * STEPS_PER_EPOCH
  c.weight_decay = 1e-4
  c.log_every = 500
  c.checkpoint_every = STEPS_PER_EPOCH
  c.eval.split = "validation"
  c.eval.every = 5 * STEPS_PER_EPOCH
  c.eval.batch_size = 1024
  return c
