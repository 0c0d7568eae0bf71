r"""bmshj2018 (N=192, M=320) at paper scale on one host with 8 GPUs.

Global batch 64 = 8 per GPU, 256x256 crops, data parallel. One process sees
all 8 GPUs, so no jax.distributed is needed:

  python -m lic_jax train --config configs/gpu/x8_bmshj2018.py \
      --config.data.directory=/data/train

For several GPU hosts, run the same command on each with
--config.distributed=True and JAX_COORDINATOR_ADDRESS=host0:1234,
JAX_NUM_PROCESSES, JAX_PROCESS_ID set (under SLURM and Open MPI, JAX finds
them itself).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
import base  # pylint: disable=g-import-not-at-top,wrong-import-position
import bmshj2018_192_320  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config():
  c = base.paper_schedule(bmshj2018_192_320.get_config())
  c.workdir = "runs/gpu-bmshj2018_192_320"
  c.data.batch_size = 64
  return c
