"""Writing files safely and naming their contents: the primitives every
writer of lic_jax uses (codecs, exports, checkpoints' configs, results).

- write_atomic: a crash leaves the old file or the new one, never a part.
- check_output_path / check_new_output: an output is refused before any
  work if it would overwrite an input (or, without force, any file), or
  cannot be written; a user's file is never overwritten behind their back.
- npz_bytes and stored_arrays: arrays as .npz bytes, and arrays cached in a
  file beside the metadata they were made for.
- config_hash / tables_hash: the 8-byte identities a .lic header carries
  (lic_jax.coding.container) of a model config and of its coding tables.
"""

import hashlib
import io
import json
import os
from collections.abc import Callable

import numpy as np

from lic_jax import image as image_lib


def write_atomic(path: str, data: bytes) -> None:
  """Writes the file all at once: a crash leaves the old file or the new
  one, never a part of one."""
  with open(path + ".tmp", "wb") as f:
    f.write(data)
  os.replace(path + ".tmp", path)


def check_output_path(output: str, inputs: list[str], image: bool = False,
                      coded: bool = False) -> None:
  """Refuses, before any work, an output that would overwrite one of the
  inputs, lies in a folder that does not exist or is not writable; with
  image=True (a decoded image) one without the extension of a lossless
  format, which chooses the format; with coded=True (.lic bytes) one named
  like an image."""
  for path in inputs:
    if path and os.path.exists(output) and os.path.samefile(output, path):
      raise ValueError(f"refusing to write {output!r}: it is the input {path!r}")
  folder = os.path.dirname(os.path.abspath(output))
  if not os.path.isdir(folder):
    raise ValueError(f"output folder {folder!r} does not exist")
  if not os.access(folder, os.W_OK):
    raise ValueError(f"output folder {folder!r} is not writable")
  lossless = ", ".join(image_lib.LOSSLESS_EXTENSIONS)
  if image and image_lib.is_image_file(output) and not output.lower().endswith(
      image_lib.LOSSLESS_EXTENSIONS):
    raise ValueError(f"output {output!r}: its format would re-encode the decoded image "
                     f"lossily; write one of {lossless} (and convert it as you choose)")
  if image and not image_lib.is_image_file(output):
    raise ValueError(f"output {output!r} needs an image extension ({lossless})")
  if coded and image_lib.is_image_file(output):
    raise ValueError(f"output {output!r} would hold .lic bytes under an image's name; "
                     "name it .lic")


def check_new_output(output: str, inputs: list[str], force: bool, image: bool = False,
                     coded: bool = False) -> None:
  """check_output_path, and an existing output refused unless `force`."""
  check_output_path(output, inputs, image=image, coded=coded)
  if os.path.exists(output) and not force:
    raise FileExistsError(f"{output} exists; pass --force to overwrite it")


def npz_bytes(arrays: dict[str, np.ndarray], compressed: bool = False) -> bytes:
  buffer = io.BytesIO()
  (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
  return buffer.getvalue()


def stored_arrays(path: str, meta: dict[str, int],
                  build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
  """The arrays stored at `path` if they were stored with these `meta`
  values; otherwise build(), stored there atomically with them."""
  if os.path.exists(path):
    with np.load(path, allow_pickle=False) as stored:
      arrays = dict(stored)
    if all(key in arrays and int(arrays.pop(key)) == value for key, value in meta.items()):
      return arrays
  arrays = build()
  write_atomic(path, npz_bytes({**arrays, **{k: np.array(v) for k, v in meta.items()}}))
  return arrays


def config_hash(model_config: dict) -> bytes:
  canonical = json.dumps(model_config, sort_keys=True, separators=(",", ":"))
  return hashlib.sha256(canonical.encode()).digest()[:8]


def tables_hash(arrays: dict[str, np.ndarray]) -> bytes:
  digest = hashlib.sha256()
  for key in sorted(arrays):
    value = np.ascontiguousarray(arrays[key])
    digest.update(f"{key}:{value.dtype.str}:{value.shape}".encode())
    digest.update(value.tobytes())
  return digest.digest()[:8]
