r"""bmshj2018 (N=192, M=320) at paper scale on a Cloud TPU v5e-16 slice (4 hosts).

Settings of the slice in configs/tpu/v5e16.py (global batch 128 = 8 per
chip, data parallel, TFDS input from a GCS bucket, every host reading its
share). The run directory must be one that all hosts share (orbax writes one
checkpoint from all of them): a bucket mounted with gcsfuse at /gcs/$BUCKET
on every host. Launch on all hosts at once:

  gcloud compute tpus tpu-vm ssh $TPU --zone=$ZONE --worker=all --command="\
    cd lic_jax && python -m lic_jax train --config configs/tpu/v5e16_bmshj2018.py \
    --config.data.tfds_data_dir=gs://$BUCKET/tfds --workdir /gcs/$BUCKET/runs/bmshj2018"
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(1, os.path.dirname(os.path.dirname(__file__)))
import bmshj2018_192_320  # pylint: disable=g-import-not-at-top,wrong-import-position
import v5e16  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config():
  c = v5e16.apply(bmshj2018_192_320.get_config())
  c.workdir = "runs/tpu-bmshj2018_192_320"
  return c
