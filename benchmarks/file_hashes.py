"""sha256 of every kind of .lic file and of its decode, to show that a change
to the code leaves the files byte-identical.

Run it before and after a change and compare:

  python benchmarks/file_hashes.py --json /tmp/before.json --files /tmp/before
  (change the code)
  python benchmarks/file_hashes.py --json /tmp/after.json --compare /tmp/before.json \
      --files /tmp/before

The second run writes the same files again (their hashes must match) and
decodes the files the first one wrote (their decodes must match).

What is hashed (the file, and what its receiver decodes from it):
  bundled/qN/kodimXX   the bundled levels q1-q5 on all 24 Kodak images
  <model>/kodimXX      fixed-seed bls2017, bmshj2018, mbt2018_mean, mbt2018
                       (benchmarks/families.py) on the first 4 Kodak images,
                       a 256x256 crop each
  cbanet_*/jJ/kK       CBANet-HP and -AR: the file of bitrate J decoded at
                       every complexity level K
  ohm|int/mapsN        OHM and INT map files of N maps (and the file of all
                       maps truncated to N: the same bytes)
  split/unitU/imageI   a feature file of each unit, and the logits decoded
  grouping/imageI      a grouped-classifier file, and the logits decoded
"""

import argparse
import glob
import hashlib
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import families  # pylint: disable=g-import-not-at-top,wrong-import-position

from lic_jax import cli  # pylint: disable=g-import-not-at-top,wrong-import-position

KODAK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
                     "kodak")
MAP_COUNTS = (1, 4, 16, 64)


def _sha(data) -> str:
  if isinstance(data, np.ndarray):
    data = np.ascontiguousarray(data).tobytes()
  return hashlib.sha256(data).hexdigest()


def _kodak(count: int | None = None) -> list[tuple[str, np.ndarray]]:
  from lic_jax import image as image_lib  # pylint: disable=g-import-not-at-top

  paths = sorted(glob.glob(os.path.join(KODAK, "*.png")))[:count]
  if not paths:
    raise SystemExit(f"error: no Kodak images in {KODAK} (see ../shared/data/README)")
  return [(os.path.basename(p)[:-4], image_lib.read_rgb_uint8(p)) for p in paths]


# Each generator yields (name, file, decode): decode(file) is what the file's
# receiver gets from it.


def bundled_files():
  from lic_jax.codec import Codec  # pylint: disable=g-import-not-at-top

  images = _kodak()
  for quality in range(1, 6):
    codec = Codec.load(quality=quality)
    for name, image in images:
      yield f"bundled/q{quality}/{name}", codec.compress(image), codec.decompress


def image_model_files(name: str):
  codec = families.build(name).codec
  crops = [(n, image[:256, :256]) for n, image in _kodak(4)]
  if codec.num_rates is None:
    for image_name, image in crops:
      yield f"{name}/{image_name}", codec.compress(image), codec.decompress
    return
  image_name, image = crops[0]
  for rate in range(codec.num_rates):
    data = codec.compress(image, rate)
    for k in range(1, codec.model.max_branches + 1):
      yield (f"{name}/{image_name}/j{rate}/k{k}", data,
             lambda data, k=k: codec.decompress(data, k))


def map_files(name: str):
  from lic_jax.coding import container  # pylint: disable=g-import-not-at-top

  codec = families.build(name).codec
  image = _kodak(1)[0][1][:128, :192]
  full = codec.compress(image, maps=codec.num_maps)
  for maps in MAP_COUNTS:
    data = codec.compress(image, maps=maps)
    if container.truncate_maps(full, maps) != data:
      raise SystemExit(f"error: {name}: the file of {codec.num_maps} maps truncated to "
                       f"{maps} differs from the file of {maps} maps")
    yield f"{name}/maps{maps}", data, codec.decompress


def classifier_files(name: str):
  family = families.build(name)
  images = (families._cifar_images(4) * 255).astype(np.uint8)  # pylint: disable=protected-access
  for i, image in enumerate(images):
    if name == "split":
      for unit in range(len(family.codec.units)):
        yield f"split/unit{unit}/image{i}", family.codec.encode(image, unit), family.decode
    else:
      yield f"grouping/image{i}", family.codec.encode(image), family.decode


def all_files():
  yield from bundled_files()
  for name in families.IMAGE_MODELS:
    yield from image_model_files(name)
  for name in families.MAP_MODELS:
    yield from map_files(name)
  for name in ("split", "grouping"):
    yield from classifier_files(name)


def _stored(directory: str, name: str) -> str:
  return os.path.join(directory, name.replace("/", "_") + ".lic")


def compare(new: dict, old: dict) -> int:
  """Prints one row per group of files; the number of differing entries.
  Entries only `new` has (a file kind added since) are listed, not counted."""
  added = sorted(set(new) - set(old))
  differ = sorted(k for k in old if new.get(k) != old[k])
  groups: dict[str, list[int]] = {}
  for key in sorted(set(new) | set(old)):
    group = key.split("/")[0] + ("/" + key.split("/")[1] if key.startswith("bundled") else "")
    same, total = groups.setdefault(group, [0, 0])
    groups[group] = [same + (key not in differ and key not in added), total + 1]
  print(f"{'files':<22} {'identical':>9}")
  for group, (same, total) in groups.items():
    print(f"{group:<22} {same:>4}/{total:<4}")
  for key in differ[:20]:
    print(f"DIFFERS {key}: {old.get(key)} -> {new.get(key)}")
  for key in added:
    print(f"NEW {key} (not in the earlier run)")
  return len(differ)


def main() -> None:
  parser = argparse.ArgumentParser(description=cli.summary(__doc__))
  parser.add_argument("--json", required=True, help="where to write {name: [file sha256, "
                      "decode sha256]}")
  parser.add_argument("--compare", help="an earlier run's JSON: print what differs, exit 1 "
                      "if anything does")
  parser.add_argument("--files", help="a folder: the files are written there if it is new; "
                      "if it holds an earlier run's files, those are decoded (the entry's "
                      "decode hash is then the old file's; a kind it lacks decodes its own)")
  args = parser.parse_args()
  old_files = bool(args.files) and os.path.isdir(args.files)
  if args.files and not old_files:
    os.makedirs(args.files)
  new = {}
  for name, data, decode in all_files():
    stored = _stored(args.files, name) if args.files else None
    if old_files and os.path.exists(stored):
      with open(stored, "rb") as f:
        new[name] = [_sha(data), _sha(decode(f.read()))]
    else:
      new[name] = [_sha(data), _sha(decode(data))]
      if args.files and not old_files:
        with open(stored, "wb") as f:
          f.write(data)
  with open(args.json, "w") as f:
    json.dump(new, f, indent=1, sort_keys=True)
  print(f"{len(new)} files hashed into {args.json}")
  if args.compare:
    with open(args.compare) as f:
      sys.exit(1 if compare(new, json.load(f)) else 0)


if __name__ == "__main__":
  main()
