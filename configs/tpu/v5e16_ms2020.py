r"""ms2020 (channel-wise autoregressive prior, 10 slices) at the paper's
widths (N=192, M=320) on a Cloud TPU v5e-16 slice (4 hosts): configs/tpu/
v5e16_mbt2018.py with the channel-wise prior, for a comparison of the
priors at equal training.

  gcloud compute tpus tpu-vm ssh $TPU --zone=$ZONE --worker=all --command="\
    cd lic_jax && python -m lic_jax train --config configs/tpu/v5e16_ms2020.py \
    --config.data.tfds_data_dir=gs://$BUCKET/tfds --workdir /gcs/$BUCKET/runs/ms2020"
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(1, os.path.dirname(os.path.dirname(__file__)))
import ms2020  # pylint: disable=g-import-not-at-top,wrong-import-position
import v5e16_mbt2018  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config():
  c = v5e16_mbt2018.get_config()
  c.model = ms2020.get_config().model
  c.workdir = "runs/tpu-ms2020"
  return c
