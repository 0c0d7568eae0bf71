r"""The rate-accuracy sweep of learned grouping at the paper's scale
(CIFAR-100 from TFDS, d = 768, 20 profiles; Sec. IV-B), for an accelerator:

  python -m lic_jax train --config configs/grouping/paper.py:cifar100,pretrain
  python -m lic_jax grouping sweep --config configs/grouping/paper_sweep.py

Every point is configs/grouping/paper.py:cifar100,k,lambda,memberships,
fine-tuned from the pretrained run; the variants and lambdas are
configs/grouping/cifar_sweep.py's with the paper's 20 profiles.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import cifar_sweep  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config():
  c = cifar_sweep.get_config()
  c.point_config = "configs/grouping/paper.py"
  c.point_prefix = "cifar100,"
  c.variants = ("1,soft", "20,soft", "20,hard")
  c.output = "results/grouping/paper_sweep.json"
  c.plot = "results/grouping/paper_sweep.png"
  return c
