r"""bmshj2018 (N=192, M=320) at paper scale on a Cloud TPU v5e-16 slice (4 hosts).

Global batch 128 = 8 per chip on 16 chips, 256x256 crops, data parallel (the
model has ~11M parameters: replicated, no FSDP needed). Training data from
TFDS in a GCS bucket; every host reads its share of it. The run directory
must be one that all hosts share (orbax writes one checkpoint from all of
them): a bucket mounted with gcsfuse at /gcs/$BUCKET on every host. Launch on
all hosts at once:

  gcloud compute tpus tpu-vm ssh $TPU --zone=$ZONE --worker=all --command="\
    cd lic_jax && python -m lic_jax.train --config configs/tpu/bmshj2018_192_320.py \
    --config.data.tfds_data_dir=gs://$BUCKET/tfds --workdir /gcs/$BUCKET/runs/bmshj2018"
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
import bmshj2018_192_320  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config():
  c = bmshj2018_192_320.get_config()
  c.workdir = "runs/tpu-bmshj2018_192_320"
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
