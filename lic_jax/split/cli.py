r"""Split computing with bottleneck units (Datta et al.): code features on
the client, classify them on the server, and search the units' space.

The command and its usage: lic_jax/split/__main__.py (`python -m lic_jax split --help`).
"""

import json
import math
import os
from typing import Iterator

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags
from tqdm import tqdm

from lic_jax import cli
from lic_jax import complexity
from lic_jax.coding import container
from lic_jax.files import check_output_path
from lic_jax.recipes import classification
from lic_jax.split.codec import FeatureBank
from lic_jax.split.model import SplitClassifier, backbone, split_channels


# --------------------------------------------------------------------------
# The search (Sec. III-C).

def sample_units(search, split: str, count: int) -> list[dict]:
  """`count` units at `split` drawn from the priors of a search config (a
  pure function of its seed and the split's position in it)."""
  rng = np.random.default_rng([search.seed, list(search.splits).index(split)])
  network = _network(search)
  channels = [c for c in search.channels if c <= split_channels(network, split)]
  units = []
  for _ in range(count):
    units.append({"split": split, "channels": int(rng.choice(channels)),
                  "stride": int(rng.choice(search.strides)),
                  "log_alpha": float(rng.uniform(*search.log_alpha)),
                  "step": float(rng.uniform(*search.step))})
  return units


def unit_arg(unit: dict, rate_model: str) -> str:
  """The point config's argument 'split,Cr,S,L,Q,rate_model'."""
  return (f"{unit['split']},{unit['channels']},{unit['stride']},{unit['log_alpha']:.4f},"
          f"{unit['step']:.4f},{rate_model}")


def point_config(search, unit: dict, rate_model: str):
  """The training config of one point of a search (with the search's
  point_overrides and runs root, where it has them: train.with_overrides)."""
  from lic_jax import train as train_lib  # pylint: disable=g-import-not-at-top

  return train_lib.with_overrides(
      train_lib.load_config(f"{search.point_config}:{unit_arg(unit, rate_model)}"),
      search.get("point_overrides"), search.get("runs", "runs"))


def reference_config(search):
  """A point config of a search: its backbone, data and evaluation are
  every point's."""
  return point_config(search, {"split": search.splits[0], "channels": 1, "stride": 1,
                               "log_alpha": 0.0, "step": 1.0}, search.rate_models[0])


def _network(search) -> dict:
  return dict(reference_config(search).model.network)


def points(search) -> list[tuple[dict, str]]:
  """Every (unit, rate model) of the search, in training order."""
  return [(unit, rate_model) for split in search.splits
          for unit in sample_units(search, split, search.points_per_split)
          for rate_model in search.rate_models]


def train_points(search) -> list[str]:
  """Trains every point that has not finished; their run directories."""
  from lic_jax import train as train_lib  # pylint: disable=g-import-not-at-top

  todo = points(search)
  return [train_lib.train_unless_finished(
      point_config(search, unit, rate_model),
      f"search point {i + 1}/{len(todo)}: {unit_arg(unit, rate_model)}")
          for i, (unit, rate_model) in enumerate(todo)]


def eval_batches(config) -> Iterator[tuple[np.ndarray, np.ndarray]]:
  """(images float32 in [0, 1], labels) batches of a unit config's
  evaluation split (config.eval.max_examples of it, evenly spaced; 0: all): the
  classification recipe's batches without their zero-weight filling."""
  for batch in classification.eval_batches(config):
    kept = batch["weight"] > 0
    yield batch["image"][kept], batch["label"][kept]


def evaluate_unit(bank: FeatureBank, k: int, batches) -> dict:
  """Unit k on batches of labelled images, with real files: accuracy of the
  decoded features, actual bpp (stream bits / pixels, the unit index
  included) and file bpp (the header too); and whether every file decoded
  to exactly the encoder's symbols and the tail gave exactly the encoder
  side's logits."""
  correct = count = stream_bits = file_bits = 0
  exact = True
  for images, labels in batches:
    height, width = images.shape[1:3]
    symbols = bank.symbols(images, k)
    files = [bank.encode_symbols(s, k, height, width) for s in symbols]
    decoded = np.stack([bank.decode(f)[1] for f in files])
    logits = bank.logits(decoded, k, height, width)
    exact &= bool(np.array_equal(decoded, symbols) and
                  np.array_equal(logits, bank.logits(symbols, k, height, width)))
    correct += int(np.sum(np.argmax(logits, -1) == labels))
    count += len(labels)
    stream_bits += 8 * sum(_stream_bytes(f) for f in files)
    file_bits += 8 * sum(len(f) for f in files)
  pixels = count * height * width
  return {"accuracy": correct / count, "bpp": stream_bits / pixels,
          "file_bpp": file_bits / pixels, "header_bytes": len(files[0]) - _stream_bytes(files[0]),
          "symbols_per_image": int(symbols[0].size), "num_images": count, "exact": exact}


def _stream_bytes(data: bytes) -> int:
  return len(container.unpack_features(data)[1])


def pareto_frontier(rows: list[dict]) -> list[dict]:
  """The rows no other row beats in both bpp (lower) and accuracy (higher),
  by increasing bpp."""
  frontier, best = [], -math.inf
  for row in sorted(rows, key=lambda r: (r["bpp"], -r["accuracy"])):
    if row["accuracy"] > best:
      frontier.append(row)
      best = row["accuracy"]
  return frontier


ENCODER_PARTS = ("unit/encoder_depthwise", "unit/encoder_pointwise")
DECODER_PARTS = ("unit/decoder_pointwise", "unit/decoder_depthwise")


def overhead(network: dict, unit: dict, image_size: int) -> dict:
  """Table III: parameters and multiply-adds of a unit's encoder (the
  client's extra work) and decoder (the server's), and of the whole
  backbone, for one image_size x image_size image."""
  model = SplitClassifier(network, unit["split"], unit["channels"], unit["stride"],
                          unit.get("step", 1.0), unit.get("rate_model", "l1"))
  x = jnp.zeros((1, image_size, image_size, 3))
  # Zeros of the variables' shapes: the counts do not depend on the values.
  variables = jax.tree_util.tree_map(lambda a: np.zeros(a.shape, a.dtype), jax.eval_shape(
      lambda: model.init(jax.random.PRNGKey(0), x)))
  backbone_variables = {name: c["backbone"] for name, c in variables.items()}

  def unit_only(v, images):
    features = model.apply(v, images, method=model.head)
    return model.apply(v, features,
                       method=lambda m, f: m.unit.decode(m.unit.quantize(m.unit.encode(f)),
                                                         *f.shape[1:3]))

  def whole(v, images):
    return backbone(network).apply(v, images)

  counted = complexity.macs(unit_only, variables, x)
  macs = {side: sum(v for k, v in counted.items() if k.startswith(side))
          for side in ("encoder", "decoder")}
  return {"unit": {k: unit[k] for k in ("split", "channels", "stride")},
          "image_size": image_size,
          "encoder_parameters": complexity.parameter_count(variables["params"], ENCODER_PARTS),
          "decoder_parameters": complexity.parameter_count(variables["params"], DECODER_PARTS),
          "backbone_parameters": complexity.parameter_count(backbone_variables["params"]),
          "encoder_macs": int(macs["encoder"]), "decoder_macs": int(macs["decoder"]),
          "backbone_macs": int(sum(complexity.macs(whole, backbone_variables, x).values()))}


def largest_units(search) -> list[dict]:
  """Per split point of a search and stride, its largest unit: the largest Cr
  the split allows (the most parameters at the largest S, whose upsampler
  is widest; the most multiply-adds at the smallest)."""
  network = _network(search)
  return [{"split": split,
           "channels": max(c for c in search.channels if c <= split_channels(network, split)),
           "stride": stride} for split in search.splits for stride in sorted(search.strides)]


def overhead_table(search, image_size: int) -> list[dict]:
  """overhead() of the largest units of a search (largest_units)."""
  return [overhead(_network(search), unit, image_size) for unit in largest_units(search)]


def search(config) -> dict:
  """Trains and evaluates a search config; writes and returns its results."""
  from lic_jax import eval as eval_lib  # pylint: disable=g-import-not-at-top

  workdirs = train_points(config)
  bank = FeatureBank.from_runs(workdirs)
  first = reference_config(config)
  first.eval.max_examples = config.eval_max_examples
  rows = []
  for k, ((unit, rate_model), workdir) in enumerate(
      tqdm(list(zip(points(config), workdirs)), desc="evaluate", unit="unit")):
    rows.append({**unit, "rate_model": rate_model, "alpha": 10**unit["log_alpha"],
                 "workdir": workdir, **evaluate_unit(bank, k, eval_batches(first))})
  frontiers = {f"{split}/{rate_model}": pareto_frontier(
      [r for r in rows if r["split"] == split and r["rate_model"] == rate_model])
      for split in config.splits for rate_model in config.rate_models}
  for rate_model in config.rate_models:
    frontiers[f"all/{rate_model}"] = pareto_frontier(
        [r for r in rows if r["rate_model"] == rate_model])
  doc = {"search": config.to_dict(), "num_units": len(bank),
         "unit_index_bits": math.log2(len(bank)), "num_test_images": rows[0]["num_images"],
         "points": rows, "frontiers": frontiers,
         "overhead": overhead_table(config, first.data.image_size)}
  eval_lib.write_json(config.output, doc)
  return report(config)


def rate_at(rows: list[dict], accuracy: float) -> float | None:
  """The fewest bits per pixel among rows of at least this accuracy (None:
  no row reaches it)."""
  rates = [r["bpp"] for r in rows if r["accuracy"] >= accuracy]
  return min(rates) if rates else None


def _curve_rows(curve: dict) -> list[dict]:
  return [{"bpp": b, "accuracy": a} for b, a in zip(curve["bpp"], curve["accuracy"])]


def compare(doc: dict, baselines: dict | None, levels) -> dict:
  """Bits per pixel each frontier and baseline needs to reach each accuracy
  level, and JPEG's lowest quality (the paper's question): its accuracy,
  its rate and how many times fewer bits each frontier needs there."""
  curves = {c["name"]: _curve_rows(c) for c in (baselines or {}).get("curves", [])}
  rates = {f"{level:g}": {name: rate_at(rows, level)
                          for name, rows in {**doc["frontiers"], **curves}.items()}
           for level in levels}
  result = {"rate_at_accuracy": rates}
  jpeg = [c for c in (baselines or {}).get("curves", []) if c["name"].startswith("JPEG")]
  if jpeg:
    lowest = min(range(len(jpeg[0]["quality"])), key=lambda i: jpeg[0]["quality"][i])
    accuracy = jpeg[0]["accuracy"][lowest]
    result["jpeg_lowest_quality"] = {
        "quality": jpeg[0]["quality"][lowest], "accuracy": accuracy,
        "bpp": {c["name"]: c["bpp"][lowest] for c in jpeg},
        "units_bpp": {name: rate_at(rows, accuracy) for name, rows in doc["frontiers"].items()}}
  return result


def report(config) -> dict:
  """Adds the comparison with the baselines (config.baselines, when it
  exists) to a search's results and plots them; returns the results."""
  from lic_jax import eval as eval_lib  # pylint: disable=g-import-not-at-top

  with open(config.output) as f:
    doc = json.load(f)
  baselines = None
  if config.baselines and os.path.exists(config.baselines):
    with open(config.baselines) as f:
      baselines = json.load(f)
  doc["comparison"] = compare(doc, baselines, config.accuracy_levels)
  eval_lib.write_json(config.output, doc)
  if config.plot:
    plot_search(doc, baselines, config.plot)
  return doc


def plot_search(doc: dict, baselines: dict | None, path: str) -> None:
  """Accuracy vs actual bpp: every unit, the frontiers, the baselines."""
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top

  fig = Figure(figsize=(8, 5.5))
  ax = fig.subplots()
  markers = {"l1": "o", "entropy": "s"}
  for name, frontier in doc["frontiers"].items():
    split, rate_model = name.split("/")
    if split == "all":
      continue
    rows = [r for r in doc["points"] if r["split"] == split and r["rate_model"] == rate_model]
    line, = ax.plot([r["bpp"] for r in frontier], [r["accuracy"] for r in frontier],
                    marker=markers.get(rate_model, "o"),
                    linestyle="-" if rate_model == "l1" else "--",
                    label=f"units at {split}, Lr = {rate_model}")
    ax.scatter([r["bpp"] for r in rows], [r["accuracy"] for r in rows], s=12,
               color=line.get_color(), alpha=0.35, marker=markers.get(rate_model, "o"))
  for curve in (baselines or {}).get("curves", []):
    ax.plot(curve["bpp"], curve["accuracy"], marker=".", linestyle=":", label=curve["name"])
  if baselines and "backbone_accuracy" in baselines:
    ax.axhline(baselines["backbone_accuracy"], color="gray", linewidth=0.8,
               label="backbone on the uncompressed images")
  ax.set_xscale("log")
  ax.set_xlabel("bits per pixel (actual, range-coded)")
  ax.set_ylabel(f"test accuracy ({doc['num_test_images']} images)")
  ax.set_title("Split computing: bottleneck units vs image codecs")
  ax.grid(True, which="both", alpha=0.3)
  ax.legend(fontsize=7, loc="lower right")
  fig.tight_layout()
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  fig.savefig(path, dpi=120)


# --------------------------------------------------------------------------
# The command line.

def _unit_dirs() -> list[str]:
  units = [u for u in flags.FLAGS.units.split(",") if u]
  if not units:
    raise ValueError("--units needs the bank's run directories, comma-separated")
  for unit in units:
    if not os.path.isdir(unit):
      raise FileNotFoundError(f"unit run directory {unit!r} does not exist")
  return units


def _bank() -> FeatureBank:
  return FeatureBank.from_runs(_unit_dirs())


def _encode(paths: list[str]) -> None:
  k = flags.FLAGS.unit
  # The bank loads once the output is known to be writable (encode_image_to_file).
  data, pixels = cli.encode_image_to_file(paths, flags.FLAGS.output, flags.FLAGS.force,
                                          lambda image: _bank().encode(image, k))
  header, _ = container.unpack_features(data)
  name = os.path.basename(_unit_dirs()[k].rstrip("/"))
  print(f"{paths[0]} -> {flags.FLAGS.output}: unit {k} ({name}) at {header.split}, "
        f"{len(data)} bytes, {8 * len(data) / pixels:.4f} bpp")


def _classify(paths: list[str]) -> None:
  bank = _bank()
  for path in paths:
    with open(path, "rb") as f:
      data = f.read()
    k, logits = bank.classify(data, flags.FLAGS.split or None)
    print(f"{path}: class {int(np.argmax(logits))} (unit {k}, {bank.units[k].name})")


def print_report(doc: dict) -> None:
  """A search's frontiers and comparison as the command line prints them."""
  for name, frontier in doc["frontiers"].items():
    print(f"frontier {name}: " + ", ".join(f"{r['bpp']:.4f} bpp {r['accuracy']:.4f}"
                                           for r in frontier))
  for level, rates in doc["comparison"]["rate_at_accuracy"].items():
    print(f"bpp at accuracy >= {level}: " + ", ".join(
        f"{name} {'-' if rate is None else f'{rate:.4f}'}" for name, rate in rates.items()))
  lowest = doc["comparison"].get("jpeg_lowest_quality")
  if lowest:
    print(f"JPEG at quality {lowest['quality']}: accuracy {lowest['accuracy']:.4f}, " +
          ", ".join(f"{name} {bpp:.3f} bpp" for name, bpp in lowest["bpp"].items()))
    for name, rate in lowest["units_bpp"].items():
      if rate is not None:
        print(f"  units {name}: {rate:.4f} bpp, " + ", ".join(
            f"{bpp / rate:.0f}x fewer than {jpeg}" for jpeg, bpp in lowest["bpp"].items()))


def _overhead() -> None:
  from lic_jax import eval as eval_lib  # pylint: disable=g-import-not-at-top

  search_config = flags.FLAGS.config
  if search_config is None:
    raise ValueError("overhead needs --config (a search config)")
  if flags.FLAGS.json:
    check_output_path(flags.FLAGS.json, [])
  size = reference_config(search_config).data.image_size
  rows = overhead_table(search_config, size)
  print_overhead(rows)
  if flags.FLAGS.json:
    eval_lib.write_json(flags.FLAGS.json, {"image_size": size, "rows": rows})


def print_overhead(rows: list[dict]) -> None:
  """Table III's layout of overhead_table's rows."""
  print(f"{'split':<11}{'Cr':>4}{'S':>3}{'encoder params':>16}{'decoder params':>16}"
        f"{'encoder MACs':>14}{'decoder MACs':>14}{'backbone params':>17}{'backbone MACs':>15}")
  for r in rows:
    print(f"{r['unit']['split']:<11}{r['unit']['channels']:>4}{r['unit']['stride']:>3}"
          f"{r['encoder_parameters']:>16,}{r['decoder_parameters']:>16,}"
          f"{r['encoder_macs']:>14,}{r['decoder_macs']:>14,}"
          f"{r['backbone_parameters']:>17,}{r['backbone_macs']:>15,}")


# What a user passed wrong (a foreign file, a missing run): one line, no
# stack trace. An image that cannot be read is a ValueError.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, container.BitstreamError)


def main(argv):
  """The command (lic_jax/split/__main__.py), its flags parsed."""
  if len(argv) < 2 or argv[1] not in ("encode", "classify", "search", "report", "overhead"):
    raise ValueError("usage: python -m lic_jax split encode|classify|search|report|overhead ...")
  command, paths = argv[1], argv[2:]
  if command == "overhead":
    _overhead()
    return
  if command in ("search", "report"):
    if flags.FLAGS.config is None:
      raise ValueError(f"{command} needs --config (e.g. configs/split/cifar_search.py)")
    doc = (search if command == "search" else report)(flags.FLAGS.config)
    print_report(doc)
    return
  if command == "encode":
    _encode(paths)
  else:
    _classify(paths)

