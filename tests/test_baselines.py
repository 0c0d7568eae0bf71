"""Classical baselines: Pillow JPEG/WebP swept over quality, our metrics."""

import io
import json

import numpy as np
import pytest
from PIL import Image

from lic_jax import baselines, metrics
from lic_jax import image as image_lib
from lic_jax.assets import QUICKSTART_IMAGES
from lic_jax.commands import baselines as baselines_command


def _paths():
  return image_lib.list_images(QUICKSTART_IMAGES)[:2]


def test_measure_matches_pillow_and_metrics():
  img = image_lib.read_rgb_uint8(_paths()[0])
  r = baselines.measure(img, "jpeg", 50, "4:4:4")
  buffer = io.BytesIO()
  Image.fromarray(img).save(buffer, format="JPEG", quality=50, subsampling=0)
  assert r["bpp"] == pytest.approx(8 * len(buffer.getvalue()) / (256 * 256))
  decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
  x, y = img[None] / 255.0, decoded[None] / 255.0
  assert r["psnr"] == pytest.approx(float(metrics.psnr(x.astype(np.float32),
                                                       y.astype(np.float32))[0]), abs=1e-4)
  assert r["ms_ssim"] is not None and 0.9 < r["ms_ssim"] < 1.0


@pytest.mark.parametrize("codec,subsampling", [("jpeg", "4:2:0"), ("jpeg", "4:4:4"),
                                               ("webp", "4:2:0")])
def test_sweep_rate_and_quality_rise_with_the_quality_setting(codec, subsampling):
  curve = baselines.sweep(_paths(), codec, (10, 50, 90), subsampling, progress=False)
  r = curve["results"]
  assert r["quality"] == [10, 50, 90]
  assert np.all(np.diff(r["bpp"]) > 0) and np.all(np.diff(r["psnr-rgb"]) > 0)
  assert np.all(np.diff(r["ms-ssim-rgb"]) > 0)
  json.dumps(curve)  # the results schema is plain JSON


def test_444_costs_more_bits_than_420_at_one_quality():
  img = image_lib.read_rgb_uint8(_paths()[0])
  assert (baselines.measure(img, "jpeg", 75, "4:4:4")["bpp"]
          > baselines.measure(img, "jpeg", 75, "4:2:0")["bpp"])


def test_cli_errors_are_one_line(tmp_path, capsys):
  with pytest.raises(SystemExit, match="qualities must lie in 1..100"):
    baselines_command.main(["jpeg", "--qualities", "0,50", "--data", QUICKSTART_IMAGES,
                            "--output", str(tmp_path / "x.json")])
  with pytest.raises(SystemExit, match="does not exist"):
    baselines_command.main(["webp", "--data", str(tmp_path / "nowhere"),
                            "--output", str(tmp_path / "x.json")])
