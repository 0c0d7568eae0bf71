"""Inputs are read faithfully or refused, and the codec never destroys a
file: 16-bit PNGs, float images outside [0, 1], outputs that would
overwrite the input or cannot be written."""

import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT
from lic_jax import image as image_lib
from lic_jax.assets import QUICKSTART_IMAGES
from lic_jax.codec import Codec


def _png16_rgb(path, pixels: np.ndarray) -> None:
  """A 16-bit RGB PNG (colour type 2, depth 16), written by hand: Pillow
  cannot write one."""
  h, w, _ = pixels.shape
  rows = b"".join(b"\0" + pixels[y].astype(">u2").tobytes() for y in range(h))

  def chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

  with open(path, "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_16_bit_grayscale_png_is_scaled_not_clipped(tmp_path):
  values = np.linspace(0, 65535, 48 * 40).reshape(48, 40).astype(np.uint16)
  Image.fromarray(values).save(tmp_path / "gray16.png")
  assert Image.open(tmp_path / "gray16.png").mode == "I;16"
  pixels = image_lib.read_rgb_uint8(str(tmp_path / "gray16.png"))
  assert pixels.shape == (48, 40, 3) and pixels.dtype == np.uint8
  expected = np.round(values / 257.0).astype(np.uint8)
  for channel in range(3):
    np.testing.assert_array_equal(pixels[..., channel], expected)


def test_16_bit_rgb_png_is_read_to_within_one_level(tmp_path):
  values = np.random.default_rng(0).integers(0, 65536, (20, 30, 3)).astype(np.uint16)
  _png16_rgb(tmp_path / "rgb16.png", values)
  pixels = image_lib.read_rgb_uint8(str(tmp_path / "rgb16.png"))
  assert pixels.shape == (20, 30, 3)
  assert np.abs(pixels.astype(int) - values / 257.0).max() <= 1.0


@pytest.fixture(scope="module")
def codec():
  return Codec.load()


@pytest.mark.parametrize("scale,message", [(255.0, r"span \[0, 255\]"),
                                           (-1.0, r"span \[-1, 0\]")])
def test_float_images_outside_0_1_are_refused(codec, scale, message):
  image = np.full((64, 64, 3), scale, np.float32)
  image[0, 0] = 0.0
  with pytest.raises(ValueError, match=message):
    codec.compress(image)
  nan = np.full((64, 64, 3), np.nan, np.float32)
  with pytest.raises(ValueError, match="must lie in"):
    codec.compress(nan)


def _codec_cli(*args):
  return subprocess.run([sys.executable, "-m", "lic_jax.codec", *args], cwd=ROOT,
                        capture_output=True, text=True)


def test_codec_never_overwrites_its_input(tmp_path):
  source = tmp_path / "a.png"
  source.write_bytes(open(os.path.join(QUICKSTART_IMAGES, "kodim15_crop256.png"), "rb").read())
  before = source.read_bytes()
  result = _codec_cli("compress", str(source), str(source))
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1].startswith("error: refusing to write")
  assert "Traceback" not in result.stderr
  assert source.read_bytes() == before
  # Also through another name for the same file.
  os.symlink(source, tmp_path / "link.png")
  result = _codec_cli("compress", str(source), str(tmp_path / "link.png"))
  assert result.returncode == 1 and source.read_bytes() == before


def test_unwritable_outputs_are_refused_before_any_work(tmp_path):
  source = os.path.join(QUICKSTART_IMAGES, "kodim15_crop256.png")
  result = _codec_cli("compress", source, str(tmp_path / "missing" / "a.lic"))
  assert result.returncode == 1
  assert "error: output folder" in result.stderr and "does not exist" in result.stderr
  assert ".tmp" not in result.stderr and "Traceback" not in result.stderr
  lic = tmp_path / "a.lic"
  lic.write_bytes(b"not decoded: the output is refused first")
  result = _codec_cli("decompress", str(lic), str(tmp_path / "recon"))
  assert result.returncode == 1 and "needs an image extension" in result.stderr
