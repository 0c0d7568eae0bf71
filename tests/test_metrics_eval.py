"""PSNR / MS-SSIM against independent numpy references; the eval CLI and JSON."""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from scipy import signal

from conftest import ROOT
from lic_jax import image as image_lib
from lic_jax import metrics
from lic_jax.assets import QUICKSTART_IMAGES
from lic_jax.train import train


def _jpeg(img_uint8: np.ndarray, quality: int) -> np.ndarray:
  buf = io.BytesIO()
  Image.fromarray(img_uint8).save(buf, "JPEG", quality=quality)
  return np.asarray(Image.open(buf).convert("RGB"))


def _ms_ssim_reference(a: np.ndarray, b: np.ndarray) -> float:
  """Wang et al. 2003 in float64 with a 2-D window and scipy's 'valid' convolution."""
  coords = np.arange(11) - 5.0
  g = np.exp(-coords**2 / (2 * 1.5**2))
  window = np.outer(g, g) / np.outer(g, g).sum()
  weights = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]
  c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
  a, b = a.astype(np.float64), b.astype(np.float64)
  result = 1.0
  for level, weight in enumerate(weights):
    def filt(v):
      return np.stack([signal.fftconvolve(v[..., c], window, mode="valid")
                       for c in range(v.shape[-1])], -1)
    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a**2
    var_b = filt(b * b) - mu_b**2
    cov = filt(a * b) - mu_a * mu_b
    cs = np.mean((2 * cov + c2) / (var_a + var_b + c2))
    if level == len(weights) - 1:
      lum = (2 * mu_a * mu_b + c1) / (mu_a**2 + mu_b**2 + c1)
      ssim = np.mean(lum * (2 * cov + c2) / (var_a + var_b + c2))
      result *= max(ssim, 0.0) ** weight
    else:
      result *= max(cs, 0.0) ** weight
      h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
      a = a[:h, :w].reshape(h // 2, 2, w // 2, 2, -1).mean((1, 3))
      b = b[:h, :w].reshape(h // 2, 2, w // 2, 2, -1).mean((1, 3))
  return result


@pytest.mark.parametrize("quality", [10, 50, 90])
def test_psnr_and_ms_ssim_match_references_on_a_real_image(kodak_dir, quality):
  original = image_lib.read_rgb_uint8(os.path.join(kodak_dir, "kodim05.png"))
  decoded = _jpeg(original, quality)
  x = original[None].astype(np.float32) / 255
  y = decoded[None].astype(np.float32) / 255
  mse = np.mean((original.astype(np.float64) - decoded) ** 2)
  np.testing.assert_allclose(metrics.psnr(x, y)[0], 10 * np.log10(255**2 / mse), atol=1e-4)
  np.testing.assert_allclose(metrics.ms_ssim(x, y)[0], _ms_ssim_reference(original, decoded),
                             atol=1e-4)


def test_ms_ssim_of_identical_images_is_one_and_small_images_are_refused():
  x = np.random.default_rng(0).random((2, 200, 180, 3), dtype=np.float32)
  np.testing.assert_allclose(metrics.ms_ssim(x, x), [1.0, 1.0], atol=1e-6)
  with pytest.raises(ValueError, match="at least 176x176"):
    metrics.ms_ssim(x[:, :175], x[:, :175])


def test_pad_to_multiple_replicates_edges():
  img = np.arange(5 * 7 * 3, dtype=np.float32).reshape(5, 7, 3)
  padded = image_lib.pad_to_multiple(img, 4)
  assert padded.shape == (8, 8, 3)
  np.testing.assert_array_equal(padded[:5, :7], img)
  np.testing.assert_array_equal(padded[7, 7], img[4, 6])


def test_eval_cli_writes_compressai_schema(tiny_config, tmp_path, reference_dir):
  tiny_config.num_steps = 2
  train(tiny_config, tiny_config.workdir)
  # Odd-sized images exercise padding and cropping back; the small one has
  # no MS-SSIM (null in the JSON).
  odd = tmp_path / "images"
  odd.mkdir()
  source = Image.open(os.path.join(QUICKSTART_IMAGES, "kodim04_crop256.png"))
  source.crop((0, 0, 201, 181)).save(odd / "odd.png")
  source.crop((0, 0, 97, 75)).save(odd / "small.png")
  output = tmp_path / "out.json"
  result = subprocess.run(
      [sys.executable, "-m", "lic_jax", "eval", "--checkpoint", tiny_config.workdir,
       "--data", str(odd), "--output", str(output)],
      cwd=ROOT, capture_output=True, text=True, check=True)
  mean_line = next(l for l in result.stdout.splitlines() if l.startswith("mean over"))
  assert mean_line.startswith("mean over 2 images") and mean_line.endswith(
      "(ms-ssim over 1 of the 2 images: the others are under 176 pixels on a side)")
  doc = json.loads(output.read_text())
  with open(os.path.join(reference_dir, "compressai-bmshj2018-hyperprior_mse_cpu.json")) as f:
    reference = json.load(f)
  assert set(reference) <= set(doc) | {"description"}
  for key in ("bpp", "psnr-rgb", "ms-ssim-rgb"):
    assert key in reference["results"]
    assert isinstance(doc["results"][key], list) and len(doc["results"][key]) == 1
  image = doc["images"]["odd.png"]
  assert image["bpp"] > 0 and 5 < image["psnr"] < 60 and 0 < image["ms_ssim"] <= 1
  assert doc["images"]["small.png"]["ms_ssim"] is None
  assert doc["results"]["ms-ssim-rgb"] == [image["ms_ssim"]]


def test_eval_missing_checkpoint_is_a_clear_error(tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "lic_jax", "eval", "--checkpoint", str(tmp_path / "nope")],
      cwd=ROOT, capture_output=True, text=True)
  assert result.returncode != 0
  assert "not a lic_jax run directory" in result.stderr
  assert "Traceback" not in result.stderr
