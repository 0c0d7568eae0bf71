"""Natural images at the paper's scale (Sec. 4.3, the authors' scripts,
ifnspaml/OHMQ slurm/openimages): widths 60-120-240-480 with channel norms, 8 residual blocks of 480
channels before the decoder's upsampling, C_Z = 480, S = 32,
256x256 crops, batch 32, Adam 1e-4 with weight decay 1e-5 and no
learning-rate drop (an accelerator job; their training set is OpenImages,
ours ../shared/data/train or a TFDS dataset via data.source). They train
10 epochs of their OpenImages folder, whose size they do not give; the
500,000 steps here are ours. OHM in the form that trains ('code') unless
told:

  python -m lic_jax train --config configs/ohm/kodak_paper.py:ohm   # or :int, :ohm-paper
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import base  # pylint: disable=g-import-not-at-top,wrong-import-position
import setup  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config(arg: str = "ohm"):
  quantizer, _, form = arg.partition("-")
  c = setup.natural(quantizer, 480, 32, (60, 120, 240, 480),
                    f"runs/ohm/kodak-paper-{quantizer}")
  if quantizer == "ohm":
    c = setup.with_form(c, form)
  c.model.channel_norm = True
  c.model.residual_blocks = 8
  c.data.batch_size = 32
  c.eval.max_images = 0
  c.eval.every = 10_000
  c = base.paper_schedule(c)
  c.lr_drop_steps = ()
  c.weight_decay = 1e-5
  return c
