"""MNIST at the authors' scale (their code, ifnspaml/OHMQ: config.py and
slurm/mnist): 54k of MNIST's 60k training digits (data.source 'mnist60k':
the idx files under LIC_JAX_DATA/mnist or TFDS 'mnist'; the other 6k are
their validation set, unused here), the 10k test digits held out, batch
512, 1000 epochs of 105 batches (105,000 steps), Adam 1e-3 with weight decay 1e-5 and no
learning-rate drop, for either quantizer and C_Z = 8, 16 or 32 (an
accelerator job); OHM in the form that trains ('code') unless told:

  python -m lic_jax train --config configs/ohm/mnist_paper.py:ohm,16   # or ohm,16,paper; int,8
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import setup  # pylint: disable=g-import-not-at-top,wrong-import-position

from lic_jax.labelled_data import MNIST_60K_TRAIN_SIZE  # pylint: disable=g-import-not-at-top,wrong-import-order

EPOCHS, BATCH = 1000, 512


def get_config(arg: str = "ohm,16"):
  quantizer, _, rest = arg.partition(",")
  num_maps, _, form = rest.partition(",")
  c = setup.mnist(quantizer, setup.check_num_maps(num_maps))
  c.workdir = f"runs/ohm/mnist-paper-{quantizer}-{c.model.num_maps}"
  if quantizer == "ohm":
    c = setup.with_form(c, form)
  c.data.source = "mnist60k"
  c.data.batch_size = BATCH
  steps_per_epoch = MNIST_60K_TRAIN_SIZE // BATCH
  c.num_steps = EPOCHS * steps_per_epoch
  c.lr_drop_steps = ()
  c.weight_decay = 1e-5
  c.eval.every = 50 * steps_per_epoch
  return c
