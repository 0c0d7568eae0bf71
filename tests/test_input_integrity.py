"""Inputs are read faithfully or refused, and the codec never destroys a
file: 16-bit PNGs, float images outside [0, 1], outputs that would
overwrite the input or cannot be written."""

import os
import shutil
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
  return subprocess.run([sys.executable, "-m", "lic_jax", "codec", *args], cwd=ROOT,
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


def test_codec_batch_codes_folders_and_files_into_a_folder(tmp_path):
  images = tmp_path / "images"
  images.mkdir()
  for name in ("kodim15_crop256.png", "kodim23_crop256.png"):
    shutil.copy(os.path.join(QUICKSTART_IMAGES, name), images / name)
  single = tmp_path / "single.png"
  Image.fromarray(image_lib.read_rgb_uint8(images / "kodim15_crop256.png")[:100, :150]).save(single)
  result = _codec_cli("compress", str(images), str(single), str(tmp_path / "lic"))
  assert result.returncode == 0, result.stderr
  assert sorted(os.listdir(tmp_path / "lic")) == [
      "kodim15_crop256.lic", "kodim23_crop256.lic", "single.lic"]
  assert result.stdout.strip().splitlines()[-1].startswith("3 files in ")
  result = _codec_cli("decompress", str(tmp_path / "lic"), str(tmp_path / "out"))
  assert result.returncode == 0, result.stderr
  codec = Codec.load()
  for stem in ("kodim15_crop256", "kodim23_crop256", "single"):
    decoded = image_lib.read_rgb_uint8(tmp_path / "out" / f"{stem}.png")
    expected = codec.decompress((tmp_path / "lic" / f"{stem}.lic").read_bytes())
    np.testing.assert_array_equal(decoded, image_lib.to_uint8(expected))
  assert decoded.shape == (100, 150, 3)
  # Existing outputs are refused before any work, unless --force.
  before = (tmp_path / "lic" / "single.lic").stat().st_mtime_ns
  result = _codec_cli("compress", str(images), str(single), str(tmp_path / "lic"))
  assert result.returncode == 1 and result.stderr.strip().splitlines()[-1] == (
      f"error: output '{tmp_path / 'lic' / 'kodim15_crop256.lic'}' exists; --force "
      "overwrites it, --skip-existing codes only what is missing")
  assert (tmp_path / "lic" / "single.lic").stat().st_mtime_ns == before
  assert _codec_cli("compress", str(single), str(tmp_path / "lic"), "--force").returncode == 0
  # Two inputs that would write the same output: refused, nothing made.
  other = tmp_path / "other"
  other.mkdir()
  shutil.copy(single, other / "single.png")
  result = _codec_cli("compress", str(single), str(other / "single.png"), str(tmp_path / "new"))
  assert result.returncode == 1 and "would both be written to" in result.stderr
  assert not os.path.exists(tmp_path / "new")


def test_a_batch_codes_every_good_file_names_each_bad_one_and_resumes(tmp_path):
  """A folder with a truncated PNG and an animated GIF among good images:
  every good image is coded, each bad file named in one line, the exit
  status 1; a re-run with --skip-existing codes only what is missing
  (issue 39: the batch stopped at the bad file, unnamed, and a re-run was
  refused because outputs existed)."""
  images = tmp_path / "images"
  images.mkdir()
  crop = image_lib.read_rgb_uint8(os.path.join(QUICKSTART_IMAGES, "kodim15_crop256.png"))
  for name in ("a", "c", "e"):
    Image.fromarray(crop[:64, :96]).save(images / f"{name}.png")
  data = (images / "a.png").read_bytes()
  (images / "b.png").write_bytes(data[:len(data) // 2])
  frames = [Image.fromarray(crop[:64, :64]), Image.fromarray(crop[64:128, :64])]
  frames[0].save(images / "d.gif", save_all=True, append_images=frames[1:])
  out = tmp_path / "lic"
  result = _codec_cli("compress", str(images), str(out))
  assert result.returncode == 1
  errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
  assert errors == [
      f"error: {images / 'b.png'}: its pixels cannot be decoded (image file is truncated)",
      f"error: {images / 'd.gif'}: an animation of 2 frames; lic_jax codes single images "
      "(save the frame you want as an image of its own)",
      "error: 2 of 5 files failed, the others are written; fix or remove those and re-run "
      "with --skip-existing"]
  assert "Traceback" not in result.stderr
  assert sorted(os.listdir(out)) == ["a.lic", "c.lic", "e.lic"]
  assert result.stdout.strip().splitlines()[-1].startswith("3 files in ")
  written = {name: (out / name).stat().st_mtime_ns for name in os.listdir(out)}
  # Without a flag a re-run is refused, saying how to resume.
  result = _codec_cli("compress", str(images), str(out))
  assert result.returncode == 1 and result.stderr.strip().splitlines()[-1] == (
      f"error: output '{out / 'a.lic'}' exists; --force overwrites it, --skip-existing codes "
      "only what is missing")
  # The bad files mended, --skip-existing codes those two alone.
  (images / "b.png").write_bytes(data)
  frames[0].save(images / "d.gif")
  result = _codec_cli("compress", str(images), str(out), "--skip-existing")
  assert result.returncode == 0, result.stderr
  assert result.stdout.strip().splitlines()[-1].startswith("2 files in ")
  assert result.stdout.strip().endswith("3 skipped (their outputs exist)")
  assert sorted(os.listdir(out)) == ["a.lic", "b.lic", "c.lic", "d.lic", "e.lic"]
  assert {name: (out / name).stat().st_mtime_ns for name in written} == written


def test_outputs_that_would_silently_change_are_refused_before_any_work(tmp_path):
  """A decoded image is written only in a lossless format (issue 39: a .jpg
  was re-encoded at Pillow's quality 75, so the file was not what the
  printed PSNR measured); .lic bytes are never written under an image's
  name; eval's --output folder must exist, as the codec's must."""
  source = os.path.join(QUICKSTART_IMAGES, "kodim15_crop256.png")
  lic = tmp_path / "a.lic"
  assert _codec_cli("compress", source, str(lic)).returncode == 0
  for name in ("a.jpg", "a.JPEG", "a.webp", "a.gif"):
    result = _codec_cli("decompress", str(lic), str(tmp_path / name))
    assert result.returncode == 1 and result.stderr.strip().splitlines() == [
        f"error: output '{tmp_path / name}': its format would re-encode the decoded image "
        "lossily; write one of .png, .bmp, .ppm, .tif, .tiff (and convert it as you choose)"]
    assert not (tmp_path / name).exists()
  for name in ("b.png", "b.jpg"):
    result = _codec_cli("compress", source, str(tmp_path / name))
    assert result.returncode == 1 and result.stderr.strip().splitlines() == [
        f"error: output '{tmp_path / name}' would hold .lic bytes under an image's name; "
        "name it .lic"]
    assert not (tmp_path / name).exists()
  assert _codec_cli("decompress", str(lic), str(tmp_path / "a.tif")).returncode == 0
  result = subprocess.run([sys.executable, "-m", "lic_jax", "eval", "--data", QUICKSTART_IMAGES,
                           "--output", str(tmp_path / "new" / "r.json")], cwd=ROOT,
                          capture_output=True, text=True)
  assert result.returncode == 1 and result.stderr.strip().splitlines() == [
      f"error: output folder '{tmp_path / 'new'}' does not exist"]


def test_a_colour_profile_that_is_not_kept_is_said(tmp_path):
  """The codec codes the stored pixel values; an ICC profile other than
  sRGB is not kept, and compress says so in one warning line (issue 39:
  profiles were dropped without a word)."""
  from PIL import ImageCms  # pylint: disable=g-import-not-at-top

  pixels = _scene(64, 64)
  for name, profile in (("other", "XYZ"), ("srgb", "sRGB")):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile(profile)).tobytes()
    Image.fromarray(pixels).save(tmp_path / f"{name}.png", icc_profile=icc)
    result = _codec_cli("compress", str(tmp_path / f"{name}.png"), str(tmp_path / f"{name}.lic"))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == ([] if name == "srgb" else [
        f"warning: {tmp_path / 'other.png'}: its ICC colour profile 'XYZ identity built-in' is "
        "not kept: the file codes the stored pixel values, and its decode, with no profile, "
        "shows as sRGB"])
  np.testing.assert_array_equal(image_lib.read_rgb_uint8(tmp_path / "other.png"), pixels)


def test_an_original_of_another_size_is_refused_before_decoding(tmp_path):
  lic = tmp_path / "a.lic"
  crop = image_lib.read_rgb_uint8(os.path.join(QUICKSTART_IMAGES, "kodim23_crop256.png"))
  lic.write_bytes(Codec.load().compress(crop[:64, :80]))
  result = _codec_cli("decompress", str(lic), str(tmp_path / "a.png"), "--original",
                      os.path.join(QUICKSTART_IMAGES, "kodim15_crop256.png"))
  assert result.returncode == 1 and result.stderr.strip().splitlines()[-1].startswith(
      "error: original ") and "is 256x256, the file 80x64" in result.stderr
  assert not os.path.exists(tmp_path / "a.png") and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["lic_jax.eval"], ["lic_jax.baselines", "jpeg"]])
@pytest.mark.parametrize("bad", ["no image", "truncated"])
def test_a_file_that_is_no_image_in_a_folder_is_a_one_line_error(command, bad, tmp_path):
  """(issue 39: eval on a folder with a truncated image printed a traceback)"""
  shutil.copy(os.path.join(QUICKSTART_IMAGES, "kodim15_crop256.png"), tmp_path / "a.png")
  if bad == "no image":
    (tmp_path / "notes.png").write_text("not an image")
    message = (f"error: cannot read '{tmp_path / 'notes.png'}' as an image (not an image file, "
               "or a format Pillow does not know)")
  else:
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "notes.png").write_bytes(data[:len(data) // 2])
    message = (f"error: {tmp_path / 'notes.png'}: its pixels cannot be decoded (image file is "
               "truncated)")
  result = subprocess.run([sys.executable, "-m", *command, "--data", str(tmp_path),
                           "--output", str(tmp_path / "out.json")],
                          cwd=ROOT, capture_output=True, text=True)
  assert result.returncode == 1 and result.stderr.strip().splitlines()[-1] == message
  assert "Traceback" not in result.stderr


def _scene(height: int = 48, width: int = 72) -> np.ndarray:
  """An (H, W, 3) uint8 picture with no symmetry (gradients and a block),
  so that a wrong orientation, channel order or scale shows."""
  y, x = np.mgrid[0:height, 0:width]
  rgb = np.stack([255 * x / (width - 1), 255 * y / (height - 1),
                  128 + 100 * np.sin(x / 7.0 + y / 11.0)], axis=-1)
  rgb[4:20, 6:30] = (230, 40, 30)
  return np.round(rgb).astype(np.uint8)


def _over_white(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
  a = alpha.astype(np.float64)[..., None] / 255.0
  return np.round(color * a + 255.0 * (1.0 - a)).astype(np.uint8)


def _image_zoo(folder) -> dict[str, tuple[np.ndarray, float]]:
  """Writes one file per awkward kind of input into `folder`; returns, per
  file name, the RGB pixels it must be read as and the largest allowed
  difference (0 for lossless files, JPEG's error otherwise)."""
  rgb = _scene()
  gray = rgb[..., 1]
  alpha = np.tile(np.linspace(0, 255, rgb.shape[1]).astype(np.uint8), (rgb.shape[0], 1))
  zoo = {}

  def add(name, image, expected, tolerance=0.0, **save):
    image.save(folder / name, **save)
    zoo[name] = (expected, tolerance)

  add("rgb8.png", Image.fromarray(rgb), rgb)
  add("gray8.png", Image.fromarray(gray), np.repeat(gray[..., None], 3, -1))
  gray16 = np.minimum(gray.astype(np.uint32) * 257 + 100, 65535).astype(np.uint16)
  add("gray16.png", Image.fromarray(gray16),
      np.repeat(np.round(gray16 / 257.0).astype(np.uint8)[..., None], 3, -1))
  rgb16 = np.minimum(rgb.astype(np.uint32) * 257 + 128, 65535).astype(np.uint16)
  _png16_rgb(folder / "rgb16.png", rgb16)
  zoo["rgb16.png"] = (np.round(rgb16 / 257.0).astype(np.uint8), 1.0)
  add("rgba.png", Image.fromarray(np.dstack([rgb, alpha])), _over_white(rgb, alpha))
  add("la.png", Image.fromarray(np.dstack([gray, alpha]), "LA"),
      np.repeat(_over_white(gray[..., None], alpha), 3, -1))
  palette = Image.fromarray(rgb).quantize(64)
  add("palette.png", palette, np.asarray(palette.convert("RGB")))
  cmyk = Image.fromarray(rgb).convert("CMYK")
  add("cmyk.jpg", cmyk, np.asarray(cmyk.convert("RGB")), 12.0, quality=98)
  # Stored lying on its side; EXIF orientation 6: rotate 90 degrees clockwise to view.
  stored = np.ascontiguousarray(np.rot90(rgb, 1))
  exif = Image.Exif()
  exif[0x0112] = 6
  add("rotated.jpg", Image.fromarray(stored), rgb, 12.0, quality=98, exif=exif.tobytes())
  return zoo


def test_every_kind_of_image_is_read_as_the_pixels_it_shows(tmp_path):
  zoo = _image_zoo(tmp_path)
  for name, (expected, tolerance) in zoo.items():
    pixels = image_lib.read_rgb_uint8(str(tmp_path / name))
    assert pixels.shape == expected.shape and pixels.dtype == np.uint8, name
    error = np.abs(pixels.astype(int) - expected.astype(int))
    assert (error.max() if tolerance == 0 else error.mean()) <= max(tolerance, 0), name
    assert image_lib.image_size(str(tmp_path / name)) == expected.shape[:2], name
  # The rotated JPEG's rows and columns are swapped in the file itself.
  assert Image.open(tmp_path / "rotated.jpg").size == (48, 72)


def test_the_image_zoo_round_trips_through_the_codec_cli(tmp_path):
  zoo_dir = tmp_path / "zoo"
  zoo_dir.mkdir()
  zoo = _image_zoo(zoo_dir)
  result = _codec_cli("compress", str(zoo_dir), str(tmp_path / "lic"))
  assert result.returncode == 0, result.stderr
  result = _codec_cli("decompress", str(tmp_path / "lic"), str(tmp_path / "out"))
  assert result.returncode == 0, result.stderr
  for name, (expected, _) in zoo.items():
    decoded = image_lib.read_rgb_uint8(str(tmp_path / "out" / (os.path.splitext(name)[0]
                                                              + ".png")))
    assert decoded.shape == expected.shape, name
    mse = np.mean((decoded.astype(float) - expected.astype(float)) ** 2)
    # The bundled model codes these at about 30 dB; a wrong reading (white,
    # black, transposed, inverted) of the same pixels is below 15 dB.
    # The bundled model codes these small synthetic pictures at 21-37 dB;
    # a wrong reading (white, alpha on black, inverted) is below 5 dB.
    assert 10 * np.log10(255.0**2 / mse) > 18.0, name


def test_images_that_cannot_be_read_faithfully_are_refused(tmp_path):
  Image.fromarray(np.full((8, 8), 0.5, np.float32)).save(tmp_path / "float.tif")
  with pytest.raises(image_lib.ImageReadError, match=r"mode 'F' cannot be read faithfully"):
    image_lib.read_rgb_uint8(str(tmp_path / "float.tif"))
