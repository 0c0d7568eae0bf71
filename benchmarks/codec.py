r"""Compress/decompress wall time per image, ours against CompressAI's.

  python benchmarks/codec.py --model bmshj2018 ../shared/data/kodak/kodim0{1,2,3}.png \
      [--checkpoint DIR] [--repeats 5] [--json results/codec_bmshj2018.json] [--tfc-decoder] \
      [--compressai cheng2020_anchor_checkerboard]

Without --checkpoint the model is a fixed-seed, untrained one at the widths
of DEFAULT_WIDTHS (N=128, M=192 for bmshj2018; N=M=192 for mbt2018): its
rates mean nothing, its speed is what a trained one runs at. Where
compressai is importable, its model of the same kind and widths
(ScaleHyperprior(128, 192), JointAutoregressiveHierarchicalPriors(192, 192),
...; for he2021, its mbt2018 with its CheckerboardLatentCodec, which it
ships no model of; untrained, `update()`d) codes the same images in the
same run; --compressai names another of COMPRESSAI_MODELS at our widths
(e.g. cheng2020_anchor_checkerboard, elic2022_official: other transforms,
the models CompressAI ships with these contexts).

Each image is compressed and decompressed once by each side to warm up
(compilation; reported apart, JAX's persistent compilation cache makes it
small in a second process), then --repeats more times, the two sides taking
turns on the same image: a machine whose speed drifts over minutes slows
both alike, rather than whichever side happened to run second. The figures
are medians over all images and repeats; the JSON also holds the median of
the per-turn ratios. --tfc-decoder adds a side that is ours with
tensorflow-compression's range decoder in place of lic_jax's (the decoder
before issue 12), reported as tfc_decode_s and decode_vs_tfc = ours / it.
For a model that codes y in steps (mbt2018, he2021: its context's order;
ms2020: its slices), context_decode_s is the part of decode_s spent
decoding y in those steps (its entropy parameters step by step and its
range decoding; the rest is z, h_s and g_s). CompressAI ships no ms2020:
it is timed against ours alone. The last line is

  model=<name> encode_s=<s> decode_s=<s> [context_decode_s=<s>] [compressai_encode_s=<s>
      compressai_decode_s=<s> encode_ratio=<ours/theirs> decode_ratio=<...>]
      [tfc_decode_s=<s> decode_vs_tfc=<ours/tfc's>]
"""

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from unittest import mock

import jax
import numpy as np

from lic_jax import cli
from lic_jax import image as image_lib
from lic_jax.codec import Codec
from lic_jax.coding import latent_codecs, range_coder, tfc_ops

DEFAULT_WIDTHS = {"bls2017": (128, 128), "bmshj2018": (128, 192),
                  "mbt2018_mean": (192, 192), "mbt2018": (192, 192), "he2021": (192, 192),
                  "ms2020": (192, 192)}


class Side:
  """One implementation: prepare(image) -> input, compress(input) -> data,
  decompress(data) -> anything; with the times it took and the data of
  each image's first compression."""

  def __init__(self, prepare: Callable, compress: Callable, decompress: Callable):
    self.prepare, self.compress, self.decompress = prepare, compress, decompress
    self.first_encode, self.first_decode, self.encode, self.decode = [], [], [], []
    self.first_data = []
    # Called after each timed turn (a side that records more than the times).
    self.turn_details = lambda: None

  def warm_up(self, x) -> None:
    data, t = _timed(self.compress, x)
    self.first_data.append(data)
    self.first_encode.append(t)
    self.first_decode.append(_timed(self.decompress, data)[1])

  def turn(self, x) -> tuple[float, float]:
    data, encode_s = _timed(self.compress, x)
    decode_s = _timed(self.decompress, data)[1]
    self.turn_details()
    self.encode.append(encode_s)
    self.decode.append(decode_s)
    return encode_s, decode_s


def _timed(fn, *args):
  start = time.perf_counter()
  out = fn(*args)
  return out, time.perf_counter() - start


def ours(codec: Codec) -> Side:
  """Our codec; for a model that codes y in steps (mbt2018, he2021,
  ms2020), the side's context_decode lists the time each timed decode spent
  decoding y in its steps (ContextLatentCodec.decode or
  ChannelSlicesLatentCodec.decode: the entropy parameters, step by step,
  and the range decoding)."""
  context = getattr(codec.impl, "y_steps", None)
  last_context_s = []

  def decompress(data):
    last_context_s.clear()
    recon = codec.decompress(data)
    assert recon.ndim == 3 and recon.shape[-1] == 3
    return recon

  side = Side(lambda img: img, codec.compress, decompress)
  side.context_decode = []
  if context is not None:
    decode_context = context.decode

    def timed_context_decode(*args, **kwargs):
      out, seconds = _timed(decode_context, *args, **kwargs)
      last_context_s.append(seconds)
      return out

    context.decode = timed_context_decode
    side.turn_details = lambda: side.context_decode.append(sum(last_context_s))
  return side


class _TfcRangeDecoding:
  """The latent codecs' view of lic_jax.coding.range_coder, decoding with tfc's ops."""

  Lookup = range_coder.Lookup

  @staticmethod
  def decode(data, indexes, lookup, name=""):
    del name
    return tfc_ops.decode(data, indexes, lookup.rows)[0]

  class Decoder(tfc_ops.Decoder):

    def __init__(self, data, lookup, name=""):
      del name
      super().__init__(data, lookup.rows)


def ours_with_tfc_decoder(codec: Codec) -> Side:
  def decompress(data):
    with mock.patch.object(latent_codecs, "range_coder", _TfcRangeDecoding):
      return codec.decompress(data)

  return Side(lambda img: img, codec.compress, decompress)


def _compressai_checkerboard(n: int, m: int):
  """CompressAI's mbt2018 with He et al.'s checkerboard context, composed
  from its latent codecs as its Cheng2020AnchorCheckerboard is: the
  architecture of our he2021 (CompressAI ships no such model)."""
  # pylint: disable=g-import-not-at-top
  from compressai import latent_codecs, models
  from compressai.entropy_models import EntropyBottleneck
  from compressai.layers import CheckerboardMaskedConv2d

  mbt = models.JointAutoregressiveHierarchicalPriors(n, m)
  net = models.base.SimpleVAECompressionModel()
  net.g_a, net.g_s = mbt.g_a, mbt.g_s
  net.latent_codec = latent_codecs.HyperpriorLatentCodec(latent_codec={
      "y": latent_codecs.CheckerboardLatentCodec(
          latent_codec={"y": latent_codecs.GaussianConditionalLatentCodec(quantizer="ste")},
          entropy_parameters=mbt.entropy_parameters,
          context_prediction=CheckerboardMaskedConv2d(m, 2 * m, kernel_size=5, padding=2)),
      "hyper": latent_codecs.HyperLatentCodec(entropy_bottleneck=EntropyBottleneck(n),
                                              h_a=mbt.h_a, h_s=mbt.h_s, quantizer="ste")})
  return net


# The CompressAI model each of ours is timed against by default (the same
# architecture and widths), and the others --compressai can name.
COMPRESSAI_MODELS = {
    "bls2017": lambda cai, n, m: cai.FactorizedPrior(n, m),
    "bmshj2018": lambda cai, n, m: cai.ScaleHyperprior(n, m),
    "mbt2018_mean": lambda cai, n, m: cai.MeanScaleHyperprior(n, m),
    "mbt2018": lambda cai, n, m: cai.JointAutoregressiveHierarchicalPriors(n, m),
    "he2021": lambda cai, n, m: _compressai_checkerboard(n, m),
    "cheng2020_anchor_checkerboard": lambda cai, n, m: cai.Cheng2020AnchorCheckerboard(n),
    "elic2022_official": lambda cai, n, m: cai.Elic2022Official(n, m),
}


def compressai(name: str, widths: tuple[int, int]) -> Side | None:
  if name not in COMPRESSAI_MODELS:
    print(f"compressai has no model like {name}")
    return None
  try:
    import torch  # pylint: disable=g-import-not-at-top
    from compressai import models as cai  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  torch.manual_seed(0)
  net = COMPRESSAI_MODELS[name](cai, *widths).eval()
  net.update(force=True)

  def prepare(img):
    x = torch.from_numpy(image_lib.pad_to_multiple(img, 64).copy()).permute(2, 0, 1)[None]
    return x.float() / 255

  def compress(x):
    with torch.no_grad():
      return net.compress(x)

  def decompress(out):
    with torch.no_grad():
      return net.decompress(out["strings"], out["shape"])

  return Side(prepare, compress, decompress)


def run(sides: list[Side], images: list[np.ndarray], repeats: int) -> list[tuple]:
  """Times every side on every image, taking turns; returns the per-turn
  (encode_s, decode_s) of each side."""
  turns = []
  for img in images:
    inputs = [side.prepare(img) for side in sides]
    for side, x in zip(sides, inputs):
      side.warm_up(x)
    for _ in range(repeats):
      turns.append(tuple(side.turn(x) for side, x in zip(sides, inputs)))
  return turns


def main():
  parser = argparse.ArgumentParser(description=cli.summary(__doc__))
  parser.add_argument("images", nargs="+")
  parser.add_argument("--model", default="bmshj2018", choices=sorted(DEFAULT_WIDTHS))
  parser.add_argument("--checkpoint", default="")
  parser.add_argument("--compressai", default="", choices=["", *COMPRESSAI_MODELS],
                      help="the CompressAI model to time against (default: --model's "
                           "architecture), at --model's widths")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--json", default="")
  parser.add_argument("--tfc-decoder", action="store_true",
                      help="also time decoding with tfc's range decoder")
  args = parser.parse_args()

  cli.enable_compilation_cache()
  if args.checkpoint:
    codec = Codec.load(args.checkpoint)
    if codec.name != args.model:
      sys.exit(f"error: --checkpoint holds {codec.name!r}, not {args.model!r}")
  else:
    n, m = DEFAULT_WIDTHS[args.model]
    config = {"name": args.model, "num_filters": n, "num_latents": m}
    codec = Codec.from_params(config, _init_params(config))
  images = [image_lib.read_rgb_uint8(p) for p in args.images]
  theirs_name = args.compressai or args.model
  mine = ours(codec)
  theirs = compressai(theirs_name, (codec.model_config["num_filters"],
                                    codec.model_config["num_latents"]))
  tfc = ours_with_tfc_decoder(codec) if args.tfc_decoder else None
  sides = [side for side in (mine, theirs, tfc) if side is not None]
  turns = run(sides, images, args.repeats)
  bpp = [8 * len(data) / (img.shape[0] * img.shape[1])
         for data, img in zip(mine.first_data, images)]
  median = statistics.median
  print(f"lic_jax {codec.name} {codec.model_config}: median encode {median(mine.encode):.3f} s, "
        f"decode {median(mine.decode):.3f} s per image over {len(images)} images x "
        f"{args.repeats} (first call incl. compile: encode {max(mine.first_encode):.2f} s, "
        f"decode {max(mine.first_decode):.2f} s), {np.mean(bpp):.4f} bpp")
  record = {"model": codec.model_config, "checkpoint": args.checkpoint or None,
            "images": [os.path.basename(p) for p in args.images], "repeats": args.repeats,
            "cpu_count": os.cpu_count(), "jax": jax.__version__,
            "lic_jax": {"encode_s": median(mine.encode), "decode_s": median(mine.decode),
                        "first_encode_s": max(mine.first_encode),
                        "first_decode_s": max(mine.first_decode), "bpp": float(np.mean(bpp))}}
  if mine.context_decode:
    record["lic_jax"]["context_decode_s"] = median(mine.context_decode)
    print(f"of which decoding y in its context's order: median "
          f"{median(mine.context_decode):.3f} s")
  line = f"model={args.model} encode_s={median(mine.encode):.3f} decode_s={median(mine.decode):.3f}"
  if mine.context_decode:
    line += f" context_decode_s={median(mine.context_decode):.3f}"
  if theirs is None:
    print("compressai is not importable: no comparison")
  else:
    encode_ratio = median(mine.encode) / median(theirs.encode)
    decode_ratio = median(mine.decode) / median(theirs.decode)
    paired = {"encode_ratio": median(o[0] / t[0] for o, t, *_ in turns),
              "decode_ratio": median(o[1] / t[1] for o, t, *_ in turns)}
    print(f"compressai: median encode {median(theirs.encode):.3f} s, decode "
          f"{median(theirs.decode):.3f} s per image; median per-turn ratio encode "
          f"{paired['encode_ratio']:.3f}, decode {paired['decode_ratio']:.3f}")
    record["compressai"] = {"model": theirs_name, "encode_s": median(theirs.encode),
                            "decode_s": median(theirs.decode)}
    record["per_turn"] = {**paired, "lic_jax_decode_s": mine.decode,
                          "compressai_decode_s": theirs.decode}
    line += (f" compressai_encode_s={median(theirs.encode):.3f}"
             f" compressai_decode_s={median(theirs.decode):.3f}"
             f" encode_ratio={encode_ratio:.3f} decode_ratio={decode_ratio:.3f}")
  if tfc is not None:
    ratio = median(turn[0][1] / turn[-1][1] for turn in turns)
    print(f"with tfc's range decoder: median decode {median(tfc.decode):.3f} s; median "
          f"per-turn ratio ours / tfc's {ratio:.3f}")
    record["tfc_decoder"] = {"decode_s": median(tfc.decode), "decode_vs_tfc": ratio}
    line += f" tfc_decode_s={median(tfc.decode):.3f} decode_vs_tfc={ratio:.3f}"
  if args.json:
    with open(args.json, "w") as f:
      json.dump(record, f, indent=2)
  print(line)


def _init_params(config: dict):
  from lic_jax.models import model_from_spec  # pylint: disable=g-import-not-at-top

  model = model_from_spec(config)
  key = jax.random.PRNGKey(0)
  return model.init({"params": key, "noise": key}, np.zeros((1, 64, 64, 3), np.float32),
                    training=True)["params"]


if __name__ == "__main__":
  main()
