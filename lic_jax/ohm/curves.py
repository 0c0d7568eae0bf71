r"""OHM / INT rate-distortion points from real files: one rate-adaptive model
swept over the number of maps it sends (the quality q of Eq. 5), each point
measured on its truncated files (benchmarks/ohm_rd.py writes and plots them;
colabs/ohm.ipynb draws them in a notebook).
"""

import json
import os
import time

import jax.numpy as jnp
import numpy as np
import tqdm

from lic_jax import image as image_lib
from lic_jax import labelled_data, metrics
from lic_jax.coding import container
from lic_jax.data import data_root
from lic_jax.ohm.codec import MapCodec
from lic_jax.ohm.recipe import MNIST_SOURCES


def map_counts(codec: MapCodec) -> list[int]:
  """The n of the curve: every n up to 32 maps, else ~16 spread over 1..C_Z."""
  c_min, c_z = codec.model.min_maps, codec.num_maps
  if c_z - c_min <= 32:
    return list(range(max(c_min, 1), c_z + 1))
  return sorted({max(c_min, 1), *np.unique(np.round(np.geomspace(max(c_min, 1), c_z, 16)).astype(int)).tolist()})


def quality_of(codec: MapCodec, n: int) -> float:
  """The smallest q that sends n maps (Eq. 5)."""
  c_min, c_z = codec.model.min_maps, codec.num_maps
  return 0.0 if n <= c_min else (n - c_min) / (c_z - c_min)


def held_out(run_config) -> tuple[list[np.ndarray], str]:
  """(uint8 images, what they are) of the run's held-out set."""
  source = run_config.data.source
  if source in MNIST_SOURCES:
    images, _ = labelled_data.LOADERS[source]("test", run_config.data.directory or None)
    held = "held-out" if source == "mnist" else "test"
    return list(images), f"the {len(images)} {held} MNIST digits"
  directory = os.path.join(data_root(), "kodak")
  return ([image_lib.read_rgb_uint8(p) for p in image_lib.list_images(directory)],
          "the 24 Kodak images")


def sweep(codec: MapCodec, images: list[np.ndarray], counts: list[int],
          check_images: int) -> tuple[list[dict], dict]:
  """(one point per n, the checks' outcome)."""
  num = len(images)
  pixels = np.array([im.shape[0] * im.shape[1] for im in images], np.float64)
  payload, files, estimated = (np.zeros((num, len(counts))) for _ in range(3))
  fulls, decoded = [], []
  checked = 0
  start = time.time()
  for i, image in enumerate(tqdm.tqdm(images, desc="code", leave=False)):
    full = codec.compress(image, maps=codec.num_maps)
    symbols, _, _ = codec.decode_symbols(full)
    if not np.array_equal(symbols, codec.symbols(image)):
      raise AssertionError(f"image {i}: the decoded symbols differ from the encoder's")
    fulls.append(full)
    decoded.append(symbols)
    _, streams = container.unpack_maps(full)
    lengths = np.cumsum([0] + [len(s) for s in streams])
    bits = np.cumsum(np.concatenate([[0.0], codec.map_bits(symbols).sum((0, 1))]))
    for k, n in enumerate(counts):
      cut = container.truncate_maps(full, n)
      payload[i, k], files[i, k], estimated[i, k] = 8 * lengths[n], 8 * len(cut), bits[n]
      if i < check_images:
        if codec.compress(image, maps=n) != cut:
          raise AssertionError(f"image {i}: truncating to {n} maps differs from coding {n}")
        checked += 1
  coding_s = time.time() - start
  # Same-size images (the digits) are synthesized from their decoded
  # symbols in one batch; the first check_images are also decoded from
  # their truncated files one by one and compared.
  batched = len({im.shape for im in images}) == 1
  points, max_difference = [], 0
  for k, n in enumerate(tqdm.tqdm(counts, desc="decode", leave=False)):
    if batched:
      x_hat = codec._synthesize(codec.params, jnp.asarray(np.stack(decoded)),  # pylint: disable=protected-access
                                jnp.full((num,), n, jnp.int32))
      recons = [image_lib.to_uint8(np.clip(r, 0.0, 1.0)) for r in np.asarray(x_hat)]
      for i in range(min(check_images, num)):
        single = image_lib.to_uint8(codec.decompress(container.truncate_maps(fulls[i], n)))
        max_difference = max(max_difference, int(np.max(np.abs(
            single.astype(int) - recons[i].astype(int)))))
    else:
      recons = [image_lib.to_uint8(codec.decompress(container.truncate_maps(f, n)))
                for f in fulls]
    values = [metrics.psnr_uint8(image, recon) for image, recon in zip(images, recons)]
    points.append({"q": quality_of(codec, n), "maps": n,
                   "bpp": float(np.mean(payload[:, k] / pixels)),
                   "bpp_file": float(np.mean(files[:, k] / pixels)),
                   "bpp_estimated": float(np.mean(estimated[:, k] / pixels)),
                   "psnr": float(np.mean(values)),
                   "max_excess": float(np.max((payload[:, k] - estimated[:, k]) /
                                              np.maximum(estimated[:, k], 1e-9))),
                   # The streams beyond 1% of the estimate, per stream: the
                   # range coder's termination (at most 16 bits a stream).
                   "max_bits_over_1pct_per_map": float(np.max(
                       (payload[:, k] - 1.01 * estimated[:, k]) / n))})
  checks = {"truncated_equals_coded": checked,
            "max_uint8_difference_batched_vs_file_decode": max_difference,
            "coding_seconds": round(coding_s, 1)}
  return points, checks


def read_curves(path: str) -> list[tuple[str, np.ndarray, np.ndarray, bool]]:
  """(label, bpp, psnr, is_reference) of a results file or of the authors'
  MNIST file (its 'curves': entries alternate per q between the
  validation and test sets, the paper's 22 / 24 dB)."""
  with open(path) as f:
    doc = json.load(f)
  reference = "reference" in os.path.abspath(path).split(os.sep)
  if "curves" in doc:
    out = []
    for curve in doc["curves"]:
      if curve["channels"] != "[0, 16]" or curve["lambda"] != "[0.95, 0.999]":
        continue
      bpp, value = np.asarray(curve["bpp"]), np.asarray(curve["psnr"])
      for part, label in ((slice(0, None, 2), "validation"), (slice(1, None, 2), "test")):
        out.append((f"authors OHM C_Z=16 ({label})", bpp[part], value[part], True))
    return out
  results = doc["results"]
  value = results.get("psnr", results.get("psnr-rgb"))
  return [(doc.get("name", os.path.basename(path)) + (" (ref)" if reference else ""),
           np.asarray(results["bpp"]), np.asarray(value), reference)]
