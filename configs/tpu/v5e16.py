"""Training settings for a Cloud TPU v5e-16 slice (16 chips, 4 hosts).

Global batch 128 = 8 per chip, 256x256 crops, data parallel (the models have
12-26M parameters: replicated, no FSDP needed), multi-host start-up, input
from TFDS (every host reads its share), the paper's 1e-4 learning rate.
"""


def apply(c):
  c.distributed = True
  c.mesh = {"data": -1, "fsdp": 1}
  c.data.source = "tfds"
  c.data.tfds_name = "clic"
  c.data.crop_size = 256
  c.data.batch_size = 128
  c.num_steps = 500_000
  c.learning_rate = 1e-4
  c.lr_drop_steps = (450_000,)
  c.log_every = 500
  c.checkpoint_every = 5000
  return c
