r"""Learned grouping on our offline CIFAR-10 subset, at CPU scale:

  python -m lic_jax train --config configs/grouping/cifar_pretrain.py
  python -m lic_jax train --config 'configs/grouping/cifar.py:10,2.0,soft'

The argument is 'k,lambda,memberships[,noise]' (configs/grouping/profiles.py).
The encoder is the recipes issue's CIFAR ResNet-20 up to layer3[0] (8 x 8 x
64 features) and a 1x1 convolution to h = 16 channels: d = 8 * 8 * 16 = 1024,
the paper's CIFAR size (Fig. 2, Fig. 4). The classifier is a 1x1
convolution back to 64 channels and the network's last two blocks.

As in Sec. IV-A, every point fine-tunes a model trained without the rate
(cifar_pretrain.py: encoder, classifier and step; the profile head and the
profiles start fresh, as k differs between points), here for 400 steps of
batch 128 (2.6 epochs of the 20k images) with SGD 0.05 (the paper's) and a
cosine decay in place of its step decay over 40 epochs.
Sweep and curves: python -m lic_jax grouping sweep --config
configs/grouping/cifar_sweep.py.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import profiles  # pylint: disable=g-import-not-at-top,wrong-import-position

NETWORK = {"name": "cifar_resnet", "depth": 20, "width": 16, "num_classes": 10}
SPLIT = "layer3[0]"
LATENT_CHANNELS = 16
PRETRAINED = "runs/grouping/cifar-pretrain"


def get_config(arg: str = "10,2.0,soft"):
  point = profiles.parse_point(arg)
  c = profiles.get_grouping_config(NETWORK, SPLIT, LATENT_CHANNELS, point, 32,
                                   "runs/grouping/cifar")
  c.init_from = PRETRAINED
  c.init_parts = profiles.init_parts(point)
  c.num_steps = 400
  c.learning_rate = 0.05
  c.lr_schedule = "cosine"
  c.weight_decay = 5e-4
  c.log_every = 50
  c.checkpoint_every = 200
  c.keep_checkpoints = 1
  c.quiet = True
  return c
