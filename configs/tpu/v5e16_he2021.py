r"""he2021 (the checkerboard context on mbt2018) at the higher-rate widths
(N=192, M=320) on a Cloud TPU v5e-16 slice (4 hosts): configs/tpu/
v5e16_mbt2018.py with the checkerboard context, for a comparison of the two
contexts at equal training.

  gcloud compute tpus tpu-vm ssh $TPU --zone=$ZONE --worker=all --command="\
    cd lic_jax && python -m lic_jax train --config configs/tpu/v5e16_he2021.py \
    --config.data.tfds_data_dir=gs://$BUCKET/tfds --workdir /gcs/$BUCKET/runs/he2021"
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import v5e16_mbt2018  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_config():
  c = v5e16_mbt2018.get_config()
  c.model.name = "he2021"
  c.workdir = "runs/tpu-he2021"
  return c
