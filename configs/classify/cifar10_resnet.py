r"""The CIFAR ResNet on our offline CIFAR-10 subset (20k train / 5k test
JPEG re-encodings): the backbone that the split-computing work freezes.

  python -m lic_jax train --config configs/classify/cifar10_resnet.py

ResNet-20 (three stages of three basic blocks, widths 16/32/64), SGD with
Nesterov momentum, cosine learning rate with warm-up, weight decay 5e-4,
pad-4 crops and flips; test accuracy every 5 epochs (156 steps each).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
import base  # pylint: disable=g-import-not-at-top,wrong-import-position

STEPS_PER_EPOCH = 20_000 // 128


def get_config():
  c = base.classification(base.get_config())
  c.model = {"name": "cifar_resnet", "depth": 20, "width": 16, "num_classes": 10}
  c.workdir = "runs/cifar10_resnet"
  c.num_steps = 40 * STEPS_PER_EPOCH
  c.learning_rate = 0.1
  c.lr_schedule = "cosine"
  c.warmup_steps = STEPS_PER_EPOCH
  c.weight_decay = 5e-4
  c.log_every = 50
  c.checkpoint_every = STEPS_PER_EPOCH
  c.eval.every = 5 * STEPS_PER_EPOCH
  return c
