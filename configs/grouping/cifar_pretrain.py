r"""The grouped classifier of configs/grouping/cifar.py trained for
classification only (lambda = 0, one profile), from scratch: the model
every point of the sweep fine-tunes (Sec. IV-A's pre-trained model).

  python -m lic_jax train --config configs/grouping/cifar_pretrain.py

2,000 steps of batch 128 (12.8 epochs of the 20k images), SGD with
Nesterov momentum 0.1, warm-up and cosine decay, weight decay 5e-4.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import cifar  # pylint: disable=g-import-not-at-top,wrong-import-position
import profiles  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config():
  c = profiles.get_grouping_config(cifar.NETWORK, cifar.SPLIT, cifar.LATENT_CHANNELS,
                                   profiles.parse_point("1,0,soft"), 32, "runs/grouping")
  c.workdir = cifar.PRETRAINED
  c.num_steps = 2000
  c.learning_rate = 0.1
  c.lr_schedule = "cosine"
  c.warmup_steps = 150
  c.weight_decay = 5e-4
  c.log_every = 100
  c.checkpoint_every = 500
  c.eval.every = 1000
  return c
