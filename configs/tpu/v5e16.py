"""Training settings for a Cloud TPU v5e-16 slice (16 chips, 4 hosts).

Global batch 128 = 8 per chip, 256x256 crops, data parallel (the models have
12-26M parameters: replicated, no FSDP needed), multi-host start-up, input
from TFDS (every host reads its share), the paper schedule of base.py.
Imported by the tpu/ configs, which put configs/ on the path.
"""

import base


def apply(c):
  c = base.paper_schedule(c)
  c.distributed = True
  c.data.source = "tfds"
  c.data.tfds_name = "clic"
  c.data.batch_size = 128
  return c
