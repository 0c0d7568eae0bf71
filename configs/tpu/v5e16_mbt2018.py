r"""mbt2018 (joint autoregressive + hierarchical prior) at the paper's
higher-rate widths (N=192, M=320) on a Cloud TPU v5e-16 slice (4 hosts).

Settings of the slice in configs/tpu/v5e16.py. Launch on all hosts at once,
with the run directory on a bucket mounted by gcsfuse on every host:

  gcloud compute tpus tpu-vm ssh $TPU --zone=$ZONE --worker=all --command="\
    cd lic_jax && python -m lic_jax train --config configs/tpu/v5e16_mbt2018.py \
    --config.data.tfds_data_dir=gs://$BUCKET/tfds --workdir /gcs/$BUCKET/runs/mbt2018"
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(1, os.path.dirname(os.path.dirname(__file__)))
import mbt2018  # pylint: disable=g-import-not-at-top,wrong-import-position
import v5e16  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config():
  c = v5e16.apply(mbt2018.get_config())
  c.model.num_latents = 320
  c.lmbda = 0.0483
  c.workdir = "runs/tpu-mbt2018"
  return c
