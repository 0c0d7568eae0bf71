"""MNIST at the authors' scale: batch 512, 1000 epochs (here of our 8k
training digits; they trained on MNIST's 60k), Adam 1e-3 with weight decay
1e-5, for either quantizer and C_Z = 8, 16 or 32 (an accelerator job):

  python -m lic_jax.train --config configs/ohm/mnist_paper.py:ohm,16   # or ohm,16,code; int,8
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import setup  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config(arg: str = "ohm,16"):
  quantizer, _, rest = arg.partition(",")
  num_maps, _, form = rest.partition(",")
  c = setup.mnist(quantizer, setup.check_num_maps(num_maps))
  c.workdir = f"runs/ohm/mnist-paper-{quantizer}-{c.model.num_maps}"
  if quantizer == "ohm":
    c = setup.with_form(c, form)
  c.data.batch_size = 512
  c.num_steps = 1000 * 8000 // 512
  c.lr_drop_steps = ()
  c.weight_decay = 1e-5
  c.eval.every = 50 * 8000 // 512
  return c
