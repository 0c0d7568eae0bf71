r"""One bottleneck unit on the CIFAR ResNet-20 (configs/classify/cifar10_resnet.py,
its run in runs/cifar10_resnet), on our offline CIFAR-10 subset:

  python -m lic_jax train --config 'configs/split/cifar.py:layer3[1],16,2,0.5,4'

The argument is 'split,Cr,S,L,Q[,rate_model]' (configs/split/units.py).
Brief training, as the paper's units train (Sec. III-B): 600 steps of batch
128 (3.8 epochs of the 20k images, with the backbone's crops and flips),
Adam 3e-3 with a cosine decay, test accuracy at the end. The random search
over such units is configs/split/cifar_search.py.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import units  # pylint: disable=g-import-not-at-top,wrong-import-position

BACKBONE = {"name": "cifar_resnet", "depth": 20, "width": 16, "num_classes": 10}
BACKBONE_RUN = "runs/cifar10_resnet"


def get_config(arg: str = "layer3[1],16,2,0.5,4"):
  c = units.get_split_config(BACKBONE, units.parse_unit(arg), "runs/split/cifar")
  c.init_from = BACKBONE_RUN
  c.num_steps = 600
  c.learning_rate = 3e-3
  c.lr_schedule = "cosine"
  c.log_every = 100
  c.checkpoint_every = 300
  c.keep_checkpoints = 1
  c.quiet = True
  return c
