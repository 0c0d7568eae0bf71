r"""What split computing is compared with (Datta et al., Fig. 4): the same
backbone, unmodified, on images compressed by an image codec and decoded.

  python benchmarks/split_baselines.py --backbone runs/cifar10_resnet \
      --output results/split/cifar_baselines.json
  python benchmarks/split_baselines.py --config configs/split/imagenet_resnet50.py \
      --backbone resnet50.npz --output results/split/imagenet_baselines.json

By default the images are our CIFAR-10 test set; with --config, a unit
config's own evaluation images (its data source and config.eval.split:
ImageNet's validation centre crops at 224 x 224 for the ResNet-50 config,
Table IV's setting) and its backbone network, so that the baselines and
the units are measured on the same images by the same classifier.

- JPEG: Pillow at a quality sweep (optimized Huffman tables, 4:2:0), the
  backbone on the decoded images. Two rates: the whole file, and its
  entropy-coded scan alone (the bytes between the start-of-scan header and
  the end-of-image marker): on a 32 x 32 image the headers and tables
  (about 600 bytes) are most of a JPEG file, and the units' rate counts
  their payload only, so the scan is the comparison that favours JPEG.
- bmshj2018 (our learned image codec, the bundled models q1..q5 trained for
  photographs): real .lic files, the backbone on the decoded images; rates
  of the whole file and of its range-coded streams alone.

The accuracy of the backbone on the uncompressed test images is the line
everything is measured against.
"""

import argparse
import io
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lic_jax import checkpoint as checkpoint_lib  # noqa: E402
from lic_jax import eval as eval_lib  # noqa: E402
from lic_jax import labelled_data  # noqa: E402
from lic_jax.codec import Codec  # noqa: E402
from lic_jax.coding import container  # noqa: E402
from lic_jax.models import build_model, resnet_torchvision  # noqa: E402
from lic_jax.recipes import classification  # noqa: E402
from lic_jax.train import load_config  # noqa: E402

BATCH = 500


def jpeg_scan_bytes(data: bytes) -> int:
  """The bytes of a baseline JPEG's entropy-coded scan (after the SOS
  segment, up to the EOI marker)."""
  pos = 2  # after SOI
  while pos + 4 <= len(data):
    if data[pos] != 0xFF:
      raise ValueError(f"not a JPEG marker at byte {pos}")
    marker, length = data[pos + 1], int.from_bytes(data[pos + 2:pos + 4], "big")
    if marker == 0xDA:  # start of scan: its header, then the scan to EOI
      return len(data) - (pos + 2 + length) - 2
    pos += 2 + length
  raise ValueError("no start-of-scan marker")


def jpeg_round_trip(image: np.ndarray, quality: int) -> tuple[np.ndarray, int, int]:
  """(decoded uint8 image, file bytes, scan bytes) of Pillow's JPEG."""
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format="JPEG", quality=quality, optimize=True)
  data = buffer.getvalue()
  decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
  return decoded, len(data), jpeg_scan_bytes(data)


def classifier(backbone: str, network: dict | None = None):
  """(images float [0, 1] -> predicted classes) of a trained classifier: a
  run directory, or a torchvision ResNet state_dict saved as .npz (the
  network spec then says which model it is)."""
  if backbone.endswith(".npz"):
    if network is None:
      raise SystemExit(f"error: {backbone}: a .npz backbone needs --config (its network)")
    model, variables = build_model(**network), resnet_torchvision.load_npz(backbone)
  else:
    model, variables, _, _ = checkpoint_lib.load_variables(backbone)
  run = jax.jit(lambda x: jnp.argmax(model.apply(variables, x, training=False), -1))
  return lambda images: np.concatenate([np.asarray(run(jnp.asarray(images[i:i + BATCH])))
                                        for i in range(0, len(images), BATCH)])


def evaluation_images(config, limit: int) -> tuple[np.ndarray, np.ndarray]:
  """(uint8 images, labels) of a unit config's evaluation set, preprocessed
  as the units see them (lic_jax.recipes.classification.eval_batches),
  then as 8-bit images, which is what an image codec is given."""
  config = config.copy_and_resolve_references()
  config.eval.max_examples = limit
  images, labels = [], []
  for batch in classification.eval_batches(config):
    kept = batch["weight"] > 0
    images.append(np.round(batch["image"][kept] * 255.0).astype(np.uint8))
    labels.append(batch["label"][kept])
  images, labels = np.concatenate(images), np.concatenate(labels)
  return (images[:limit], labels[:limit]) if limit else (images, labels)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--backbone", default="runs/cifar10_resnet",
                      help="the classifier's run directory or torchvision .npz "
                           "(default runs/cifar10_resnet)")
  parser.add_argument("--config", default="",
                      help="a split unit config: its evaluation images and network "
                           "(default: our CIFAR-10 test set)")
  parser.add_argument("--output", default="results/split/cifar_baselines.json")
  parser.add_argument("--jpeg-qualities", default="1,5,10,20,30,50,70,90",
                      help="Pillow qualities (default 1,5,10,20,30,50,70,90)")
  parser.add_argument("--codec-qualities", default="1,2,3,4,5",
                      help="bundled bmshj2018 levels (default 1,2,3,4,5; '' for none)")
  parser.add_argument("--max-images", type=int, default=0,
                      help="the first N test images (default 0: all)")
  args = parser.parse_args(argv)
  network = None
  if args.config:
    config = load_config(args.config)
    network = dict(config.model.network)
    images, labels = evaluation_images(config, args.max_images)
  else:
    images, labels = labelled_data.load_cifar10("test")
    if args.max_images:
      images, labels = images[:args.max_images], labels[:args.max_images]
  predict = classifier(args.backbone, network)
  pixels = images.shape[1] * images.shape[2]
  doc = {"backbone": args.backbone, "num_test_images": len(labels),
         "backbone_accuracy": float(np.mean(predict(images / 255.0) == labels)), "curves": []}
  print(f"backbone on the uncompressed test images: {doc['backbone_accuracy']:.4f}")

  jpeg = {"quality": [], "accuracy": [], "file_bpp": [], "scan_bpp": []}
  for quality in map(int, args.jpeg_qualities.split(",")):
    decoded, files, scans = zip(*(jpeg_round_trip(image, quality) for image in images))
    accuracy = float(np.mean(predict(np.stack(decoded) / 255.0) == labels))
    for key, value in (("quality", quality), ("accuracy", accuracy),
                       ("file_bpp", 8.0 * np.mean(files) / pixels),
                       ("scan_bpp", 8.0 * np.mean(scans) / pixels)):
      jpeg[key].append(value)
    print(f"JPEG q={quality}: accuracy {accuracy:.4f}, {jpeg['file_bpp'][-1]:.3f} bpp "
          f"(file), {jpeg['scan_bpp'][-1]:.3f} bpp (scan)")
  doc["curves"] += [
      {"name": "JPEG (whole file)", "quality": jpeg["quality"], "accuracy": jpeg["accuracy"],
       "bpp": jpeg["file_bpp"]},
      {"name": "JPEG (entropy-coded scan only)", "quality": jpeg["quality"],
       "accuracy": jpeg["accuracy"], "bpp": jpeg["scan_bpp"]}]

  learned = {"quality": [], "accuracy": [], "file_bpp": [], "stream_bpp": []}
  for quality in [int(q) for q in args.codec_qualities.split(",") if q]:
    codec = Codec.load(quality=quality)
    start = time.perf_counter()
    files = [f for i in range(0, len(images), BATCH)
             for f in codec.compress_batch(images[i:i + BATCH])]
    decoded = np.stack([codec.decompress(f) for f in files])
    streams = [sum(map(len, container.unpack(f)[1])) for f in files]
    accuracy = float(np.mean(predict(decoded) == labels))
    for key, value in (("quality", quality), ("accuracy", accuracy),
                       ("file_bpp", 8.0 * np.mean([len(f) for f in files]) / pixels),
                       ("stream_bpp", 8.0 * np.mean(streams) / pixels)):
      learned[key].append(value)
    print(f"bmshj2018 q{quality}: accuracy {accuracy:.4f}, {learned['file_bpp'][-1]:.3f} bpp "
          f"(file), {learned['stream_bpp'][-1]:.3f} bpp (streams), "
          f"{time.perf_counter() - start:.0f} s")
  if learned["quality"]:
    doc["curves"] += [
        {"name": "bmshj2018, bundled (whole file)", "quality": learned["quality"],
         "accuracy": learned["accuracy"], "bpp": learned["file_bpp"]},
        {"name": "bmshj2018, bundled (streams only)", "quality": learned["quality"],
         "accuracy": learned["accuracy"], "bpp": learned["stream_bpp"]}]
  eval_lib.write_json(args.output, doc)
  print(f"wrote {args.output}")


if __name__ == "__main__":
  main()
