"""Fixed-seed, untrained decoders of every .lic file kind, for the benchmarks
that attack or measure decoders (fuzz_codec.py, decode_memory.py).

Each family is built the same way in every process from its name alone, so
that a worker process decodes with exactly the parent's tables:

  image codecs (versions 1, 2)  bls2017, bmshj2018, mbt2018_mean, mbt2018,
                                he2021, ms2020, cbanet_hp, cbanet_ar: N=32,
                                M=48
  map streams (version 3)       ohm, int: the natural-image autoencoder at
                                configs/ohm's CPU widths
  features (version 4)          split: a bank of two units on a CIFAR ResNet-8
  groups (version 4)            grouping: a grouped classifier, k = 3

`Family.decode(data)` is what a receiver runs on a file (the image, or the
classifier's logits); `declared(height, width)` is a tiny file that asks
for an image of that size (streams empty: every symbol its table's first),
where the kind codes images of any size.
"""

import dataclasses
import os
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

IMAGE_MODELS = ("bls2017", "bmshj2018", "mbt2018_mean", "mbt2018", "he2021", "ms2020",
                "cbanet_hp", "cbanet_ar")
MAP_MODELS = ("ohm", "int")
FAMILIES = (*IMAGE_MODELS, *MAP_MODELS, "split", "grouping")
IMAGE_WIDTHS = {"num_filters": 32, "num_latents": 48}
# The bitrate each CBANet's files are coded at: a BAM's, the lowest.
RATES = {"cbanet_hp": 0, "cbanet_ar": 0}
# configs/ohm's natural-image model at CPU scale (setup.natural_cpu).
MAP_SPEC = {"name": "ohm_autoencoder", "architecture": "natural", "num_maps": 64,
            "num_symbols": 32, "features": 128, "filters": (32, 64, 96, 128),
            "min_maps": 0, "ohm_form": "code"}
NETWORK = {"name": "cifar_resnet", "depth": 8, "width": 8, "num_classes": 10}
SEED = 0


@dataclasses.dataclass
class Family:
  name: str
  version: int                        # the .lic format version of its files
  codec: object                       # Codec, MapCodec, FeatureBank or GroupCodec
  valid: bytes                        # a file of a real image
  decode: Callable[[bytes], np.ndarray]
  declared: Callable[[int, int], bytes] | None  # None: one image size only

  def decode_memory(self, height: int, width: int) -> int:
    """The decoder's estimate for this family's files (a CBANet's: at the
    bitrate they are coded at)."""
    if self.name in RATES:
      return self.codec.decode_memory(height, width, RATES[self.name])
    return self.codec.decode_memory(height, width)


def _crop() -> np.ndarray:
  from lic_jax import image as image_lib  # pylint: disable=g-import-not-at-top
  from lic_jax.assets import QUICKSTART_IMAGES  # pylint: disable=g-import-not-at-top

  image = image_lib.read_rgb_uint8(os.path.join(QUICKSTART_IMAGES, "kodim04_crop256.png"))
  return image[:128, :160]


def _init(model, shape, *extra):
  key = jax.random.PRNGKey(SEED)
  return model.init({"params": key, "noise": key}, jnp.zeros(shape), *extra, training=True)


def _image_family(name: str) -> Family:
  from lic_jax.codec import Codec  # pylint: disable=g-import-not-at-top
  from lic_jax.coding import fuzz  # pylint: disable=g-import-not-at-top
  from lic_jax.models import build_model  # pylint: disable=g-import-not-at-top

  params = _init(build_model(name, **IMAGE_WIDTHS), (1, 64, 64, 3))["params"]
  codec = Codec.from_params({"name": name, **IMAGE_WIDTHS}, params)
  valid = codec.compress(_crop(), RATES.get(name))
  shape = fuzz._File(valid)  # pylint: disable=protected-access

  def declared(height: int, width: int) -> bytes:
    table = list(codec.latent_shapes(height, width).items())
    return shape.build(table=table, streams=[b""] * len(table), height=height, width=width)

  return Family(name, 2 if name in RATES else 1, codec, valid, codec.decompress, declared)


def _map_family(quantizer: str) -> Family:
  from lic_jax.coding import container  # pylint: disable=g-import-not-at-top
  from lic_jax.ohm.codec import MapCodec  # pylint: disable=g-import-not-at-top
  from lic_jax.models import model_from_spec  # pylint: disable=g-import-not-at-top

  spec = {**MAP_SPEC, "quantizer": quantizer}
  params = _init(model_from_spec(spec), (1, 32, 32, 3), jnp.ones((1,)))["params"]
  codec = MapCodec.from_params(spec, params)
  valid = codec.compress(_crop(), maps=codec.num_maps)
  header, _ = container.unpack_maps(valid)

  def declared(height: int, width: int) -> bytes:
    return container.pack_maps(dataclasses.replace(header, height=height, width=width),
                               [b""] * header.sent)

  return Family(quantizer, 3, codec, valid, codec.decompress, declared)


def _cifar_images(count: int = 64) -> np.ndarray:
  """Fixed random 32x32 images: what the tables of the untrained units and
  profiles are fitted to (no data set needed)."""
  return np.random.default_rng(SEED).random((count, 32, 32, 3), dtype=np.float32)


def _split_family() -> Family:
  from lic_jax.split import codec as feature_codec  # pylint: disable=g-import-not-at-top
  from lic_jax.models import model_from_spec  # pylint: disable=g-import-not-at-top

  units = []
  for name, split, channels, stride, rate_model in (("l1", "layer2[0]", 4, 2, "l1"),
                                                     ("entropy", "layer3[0]", 8, 1, "entropy")):
    spec = {"name": "split_classifier", "network": NETWORK, "split": split,
            "channels": channels, "stride": stride, "step": 0.5, "rate_model": rate_model}
    model = model_from_spec(spec)
    variables = _init(model, (1, 32, 32, 3))
    arrays = feature_codec.freeze(model, variables, _cifar_images())
    units.append(feature_codec.Unit(name, spec, model, variables, arrays["unit/lookup"],
                                    arrays["unit/offsets"], 32))
  bank = feature_codec.FeatureBank(units)
  valid = bank.encode(_crop()[:32, :32], 1)
  return Family("split", 4, bank, valid, lambda data: bank.classify(data)[1], None)


def _grouping_family() -> Family:
  from lic_jax.grouping import codec as group_codec  # pylint: disable=g-import-not-at-top
  from lic_jax.models import model_from_spec  # pylint: disable=g-import-not-at-top

  spec = {"name": "grouped_classifier", "network": NETWORK, "split": "layer3[0]",
          "latent_channels": 4, "groups": 3, "image_size": 32}
  model = model_from_spec(spec)
  variables = _init(model, (1, 32, 32, 3))
  arrays = group_codec.freeze(model, variables, _cifar_images())
  codec = group_codec.GroupCodec("grouping", spec, model, variables,
                                 arrays["profiles/lookup"], arrays["profiles/offsets"])
  valid = codec.encode(_crop()[:32, :32])
  return Family("grouping", 4, codec, valid, lambda data: codec.classify(data)[1], None)


def build(name: str) -> Family:
  """The family `name` (one of FAMILIES), built from its fixed seed."""
  if name in IMAGE_MODELS:
    return _image_family(name)
  if name in MAP_MODELS:
    return _map_family(name)
  if name == "split":
    return _split_family()
  if name == "grouping":
    return _grouping_family()
  raise ValueError(f"unknown family {name!r}; choose from {', '.join(FAMILIES)}")
