"""Reading, writing and padding images (RGB, float32 in [0, 1], HWC).

What a file becomes, so that nothing is converted silently:
- 8-bit RGB as it is; 16-bit RGB to 8 bits by Pillow (the high byte, within
  one level of v / 257); 16-bit grayscale to round(v / 257).
- Grayscale (8 or 16 bit), palette, CMYK (Pillow's conversion, no ICC
  profile) and YCbCr become RGB. Grayscale is coded as RGB with R = G = B
  and decodes as RGB.
- Alpha (RGBA, LA, a palette with transparency) is composited onto white:
  opaque pixels keep their colour, transparent ones become white.
- The EXIF orientation is applied (the pixels as a viewer shows them).
- An ICC colour profile is not applied: the pixel values are read as they
  are stored, and the codec CLI warns that a profile other than sRGB is not
  kept (color_profile).
- Other modes (32-bit float, signed or >16-bit integers beyond 0..65535)
  are refused, as are animations (a GIF, PNG or WebP of several frames:
  which frame was meant is the user's call) and files whose pixels cannot
  all be decoded (a truncated file), each naming the file.
"""

import io
import os

import numpy as np
from PIL import Image, ImageCms, ImageOps

# The EXIF tag of the orientation, and its values that swap height and width.
_ORIENTATION = 0x0112
_TRANSPOSED = (5, 6, 7, 8)
_READ_MODES = ("1", "L", "P", "RGB", "RGBA", "LA", "PA", "CMYK", "YCbCr",
               "I;16", "I;16B", "I;16L", "I")

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp", ".gif")
# The formats a decoded image is written in exactly (Pillow's JPEG and WebP
# re-encode it lossily, a GIF through a palette of 256 colours).
LOSSLESS_EXTENSIONS = (".png", ".bmp", ".ppm", ".tif", ".tiff")


class ImageReadError(ValueError):
  """A file that should be an image cannot be read as one."""


def is_image_file(path: str) -> bool:
  return path.lower().endswith(IMAGE_EXTENSIONS)


def list_images(directory: str) -> list[str]:
  """Sorted image files directly inside `directory`."""
  if not os.path.isdir(directory):
    raise FileNotFoundError(f"image directory {directory!r} does not exist")
  return sorted(os.path.join(directory, f) for f in os.listdir(directory)
                if is_image_file(f))


def _open(path: str) -> Image.Image:
  try:
    return Image.open(path)
  except Image.UnidentifiedImageError as e:
    raise ImageReadError(f"cannot read {path!r} as an image (not an image file, or a "
                         "format Pillow does not know)") from e


def color_profile(path: str) -> str | None:
  """The description of the file's embedded ICC colour profile; None when
  it has none or an sRGB one (what a viewer assumes of a file without)."""
  with _open(path) as img:
    icc = img.info.get("icc_profile")
  if not icc:
    return None
  try:
    description = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))
  except (OSError, ImageCms.PyCMSError):
    return "unreadable"
  description = description.strip()
  return None if description.lower().startswith("srgb") else description


def image_size(path: str) -> tuple[int, int]:
  """(height, width) as read_rgb_uint8 returns it (EXIF orientation
  applied), from the file's header, without decoding its pixels."""
  with _open(path) as img:
    if img.getexif().get(_ORIENTATION) in _TRANSPOSED:
      return img.width, img.height
    return img.height, img.width


def read_rgb_uint8(path: str) -> np.ndarray:
  """(H, W, 3) uint8, as the module's docstring lists."""
  with _open(path) as img:
    frames = getattr(img, "n_frames", 1)
    if frames > 1:
      raise ImageReadError(f"{path}: an animation of {frames} frames; lic_jax codes single "
                           "images (save the frame you want as an image of its own)")
    try:
      img.load()
    except (OSError, SyntaxError, ValueError) as e:  # what Pillow raises on broken data
      raise ImageReadError(f"{path}: its pixels cannot be decoded ({e})") from e
    if img.mode not in _READ_MODES:
      raise ImageReadError(f"{path}: pixels of mode {img.mode!r} cannot be read faithfully "
                           "as 8-bit RGB; convert the file to 8- or 16-bit RGB or grayscale")
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
      gray = np.asarray(img).astype(np.int64)
      if img.mode == "I" and (gray.min() < 0 or gray.max() > 65535):
        raise ImageReadError(f"{path}: 32-bit integer pixels outside 0..65535 are not an "
                             "image we can read faithfully")
      gray = ((gray * 255 + 32767) // 65535).astype(np.uint8)
      return np.repeat(gray[..., None], 3, axis=-1)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
      # Composite onto white rather than dropping alpha, which leaves the
      # (often garbage) colour of transparent pixels.
      rgba = img.convert("RGBA")
      background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
      img = Image.alpha_composite(background, rgba)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def read_image(path: str) -> np.ndarray:
  """(H, W, 3) float32 in [0, 1]."""
  return read_rgb_uint8(path).astype(np.float32) / 255.0


def as_float_image(image: np.ndarray, channels: int = 3) -> np.ndarray:
  """(H, W, channels) uint8, or float in [0, 1], as float32 in [0, 1]; a
  ValueError naming the problem for anything else."""
  image = np.asarray(image)
  if image.ndim != 3 or image.shape[-1] != channels:
    kind = "an RGB image" if channels == 3 else f"an image of {channels} channel(s)"
    raise ValueError(f"expected {kind} of shape (H, W, {channels}), got {image.shape}")
  if image.dtype == np.uint8:
    return image.astype(np.float32) / 255.0
  if not np.issubdtype(image.dtype, np.floating):
    raise ValueError(f"expected uint8 or float pixels, got {image.dtype}")
  low, high = (float(np.min(image)), float(np.max(image))) if image.size else (0.0, 0.0)
  if not (0.0 <= low and high <= 1.0):  # also refuses NaN
    raise ValueError(f"float pixels must lie in [0, 1], these span [{low:g}, {high:g}]; "
                     "pass uint8 (0..255) or divide by 255")
  return image.astype(np.float32)


def to_uint8(image: np.ndarray) -> np.ndarray:
  return np.clip(np.round(np.asarray(image, np.float32) * 255.0), 0, 255).astype(np.uint8)


def write_image(path: str, image: np.ndarray) -> None:
  """Writes an (H, W, 3) float image in [0, 1] (rounded to 8 bits)."""
  Image.fromarray(to_uint8(image)).save(path)


def pad_to_multiple(image: np.ndarray, multiple: int) -> np.ndarray:
  """Pads (..., H, W, C) at the bottom/right by edge replication.

  Replicating edges instead of padding with zeros avoids a sharp border that
  would cost bits to code and is cropped away anyway.
  """
  h, w = image.shape[-3], image.shape[-2]
  pad_h, pad_w = -h % multiple, -w % multiple
  if not (pad_h or pad_w):
    return image
  widths = [(0, 0)] * (image.ndim - 3) + [(0, pad_h), (0, pad_w), (0, 0)]
  return np.pad(image, widths, mode="edge")
