r"""Learned grouping (Chamain, Qi & Ding): rate-accuracy curves with real
bitstreams, and coding single images with a trained model's profiles.

The command and its usage: lic_jax/grouping/__main__.py (`python -m lic_jax grouping --help`).
"""

import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags
from tqdm import tqdm

from lic_jax import cli
from lic_jax import coding_rate
from lic_jax.coding import container
from lic_jax.grouping.codec import GroupCodec
from lic_jax.recipes.classification import TOP_K, top_k_correct
from lic_jax.split.cli import eval_batches, pareto_frontier

# --------------------------------------------------------------------------
# A sweep: its points, their training and evaluation.


def point_args(sweep) -> list[tuple[str, str]]:
  """(variant, point argument) of every point: each variant 'k,memberships'
  at each lambda of the sweep."""
  out = []
  for variant in sweep.variants:
    groups, memberships = variant.split(",")
    for lmbda in sweep.lambdas:
      out.append((variant, f"{groups},{lmbda},{memberships}"))
  return out


def point_config(sweep, arg: str):
  """The training config of one point: point_config with the argument
  point_prefix + arg ('cifar100,' + '10,2.0,soft' for configs/grouping/paper.py),
  and the sweep's point_overrides and runs root where it has them
  (train.with_overrides)."""
  from lic_jax import train as train_lib  # pylint: disable=g-import-not-at-top

  config = train_lib.load_config(f"{sweep.point_config}:{sweep.get('point_prefix', '')}{arg}")
  return train_lib.with_overrides(config, sweep.get("point_overrides"),
                                  sweep.get("runs", "runs"))


def train_points(sweep) -> list[str]:
  """Trains every point that has not finished; their run directories."""
  from lic_jax import train as train_lib  # pylint: disable=g-import-not-at-top

  todo = point_args(sweep)
  return [train_lib.train_unless_finished(point_config(sweep, arg),
                                          f"sweep point {i + 1}/{len(todo)}: {arg}")
          for i, (_, arg) in enumerate(todo)]


def _bpp(bits: float, count: int, image_size: int) -> float:
  return bits / (count * image_size * image_size)


def evaluate_point(codec: GroupCodec, batches) -> dict:
  """One trained model on labelled image batches, with real files (see the
  module docstring); 'exact': every file decoded to the source's symbols
  and profile, and its logits equal the source side's."""
  model, variables = codec.model, codec.variables
  estimate = jax.jit(lambda v, s: model.apply(v, s, method=model.profile_bits))
  latents, profiles_all, stream_bits, file_bits, estimated = [], [], 0, 0, 0.0
  correct, correct_top_k, count = 0, 0, 0
  exact = True
  for images, labels in batches:
    latent, symbols, profiles = codec.source(images)
    files = [codec.encode_symbols(s, int(j)) for s, j in zip(symbols, profiles)]
    decoded = [codec.decode(f) for f in files]
    decoded_symbols = np.stack([s for _, s in decoded])
    logits = codec.logits(decoded_symbols)
    exact &= bool(np.array_equal(decoded_symbols, symbols) and
                  np.array_equal([j for j, _ in decoded], profiles) and
                  np.array_equal(logits, codec.logits(symbols)))
    correct += int(np.sum(np.argmax(logits, -1) == labels))
    correct_top_k += int(np.sum(top_k_correct(jnp.asarray(logits), jnp.asarray(labels))))
    count += len(labels)
    stream_bits += 8 * sum(len(container.unpack_features(f)[1]) for f in files)
    file_bits += 8 * sum(len(f) for f in files)
    bits = np.asarray(estimate(variables, jnp.asarray(symbols, jnp.float32)))
    estimated += float(np.sum(np.take_along_axis(bits, profiles[:, None], 1)))
    latents.append(latent)
    profiles_all.append(profiles)
  z, profiles = jnp.asarray(np.concatenate(latents)), np.concatenate(profiles_all)
  eps = model.apply(variables, method=model.distortion)
  soft = model.apply(variables, z, method=model.membership) if model.memberships == "soft" \
      else jax.nn.one_hot(profiles, model.groups)
  quantization = model.noise == "quantization"
  size = codec.image_size
  return {
      "accuracy": correct / count, f"accuracy_top{TOP_K}": correct_top_k / count,
      "num_images": count,
      "bpp": _bpp(stream_bits, count, size), "file_bpp": _bpp(file_bits, count, size),
      "estimated_bpp": _bpp(estimated, count, size),
      "bound_bpp": _bpp(float(coding_rate.grouped_coding_rate_of_labels(
          z, eps, jnp.asarray(profiles), model.groups, quantization)), 1, size),
      "bound_soft_bpp": _bpp(float(coding_rate.grouped_coding_rate(z, eps, soft, quantization)),
                             1, size),
      "bound_ungrouped_bpp": _bpp(float(coding_rate.coding_rate(z, eps, quantization)), 1, size),
      "eps": float(eps), "step": float(model.apply(variables, method=model.quantizer_step)),
      "profile_index_bits": codec.index_bits,
      "profiles_used": int(len(np.unique(profiles))),
      "profile_counts": np.bincount(profiles, minlength=model.groups).tolist(),
      "symbols_per_image": codec.dim, "exact": exact}


def sweep(config) -> dict:
  """Trains and evaluates a sweep config; writes and returns its results."""
  from lic_jax import eval as eval_lib  # pylint: disable=g-import-not-at-top

  workdirs = train_points(config)
  rows = []
  for (variant, arg), workdir in tqdm(list(zip(point_args(config), workdirs)),
                                      desc="evaluate", unit="point"):
    point = point_config(config, arg)
    point.eval.max_examples = config.eval_max_examples
    codec = GroupCodec.from_run(workdir)
    rows.append({"variant": variant, "arg": arg, "groups": codec.groups,
                 "memberships": codec.model.memberships, "rate_lambda": point.rate_lambda,
                 "workdir": workdir, **evaluate_point(codec, eval_batches(point))})
  eval_lib.write_json(config.output, {"sweep": config.to_dict(), "points": rows})
  return report(config)


# --------------------------------------------------------------------------
# Comparison at equal rate, and the plot.


def accuracy_at(rows: list[dict], bpp: float, key: str = "bpp") -> float | None:
  """The accuracy of a curve's frontier at `bpp` (linear in log bpp between
  its points; None outside them)."""
  frontier = pareto_frontier([{**r, "bpp": r[key]} for r in rows])
  rates = [math.log(r["bpp"]) for r in frontier]
  if not frontier or not rates[0] <= math.log(bpp) <= rates[-1]:
    return None
  return float(np.interp(math.log(bpp), rates, [r["accuracy"] for r in frontier]))


def compare(doc: dict, reference: str) -> list[dict]:
  """Each other variant against `reference` at equal actual rate: at the
  rate of every point of either curve where both frontiers reach, their
  accuracies and the difference ('gain')."""
  curves = {}
  for row in doc["points"]:
    curves.setdefault(row["variant"], []).append(row)
  out = []
  for name, rows in curves.items():
    if name == reference:
      continue
    for bpp in sorted({r["bpp"] for r in rows + curves.get(reference, [])}):
      acc, ref_acc = accuracy_at(rows, bpp), accuracy_at(curves[reference], bpp)
      if acc is not None and ref_acc is not None:
        out.append({"variant": name, "bpp": bpp, "accuracy": acc,
                    "reference_accuracy": ref_acc, "gain": acc - ref_acc})
  return out


def report(config) -> dict:
  """The sweep's results file with its comparison; plots it."""
  from lic_jax import eval as eval_lib  # pylint: disable=g-import-not-at-top

  if not os.path.exists(config.output):
    raise FileNotFoundError(f"no results at {config.output}: run the sweep first")
  with open(config.output) as f:
    doc = json.load(f)
  doc["comparison"] = compare(doc, config.variants[0])
  eval_lib.write_json(config.output, doc)
  plot_sweep(doc, config.plot)
  return doc


def plot_sweep(doc: dict, path: str) -> None:
  """Accuracy vs actual bpp (left) and vs the bound of Eq. 10 (right)."""
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top

  fig = Figure(figsize=(12, 5))
  axes = fig.subplots(1, 2, sharey=True)
  curves = {}
  for row in doc["points"]:
    curves.setdefault(row["variant"], []).append(row)
  for name, rows in curves.items():
    groups, memberships = name.split(",")
    label = "no grouping (k = 1)" if groups == "1" else f"k = {groups}, {memberships} memberships"
    rows = sorted(rows, key=lambda r: r["rate_lambda"])
    for ax, key in zip(axes, ("bpp", "bound_bpp")):
      ax.plot([r[key] for r in rows], [r["accuracy"] for r in rows], marker="o", label=label)
  axes[0].set_xscale("log")
  axes[0].set_xlabel("bits per pixel (actual: range-coded files)")
  axes[1].set_xlabel("bits per pixel (the bound r^c of Eq. 10 on the test latents)")
  axes[0].set_ylabel(f"test accuracy ({doc['points'][0]['num_images']} images)")
  for ax in axes:
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
  fig.suptitle("Learned grouping: rate-accuracy, lambda swept")
  fig.tight_layout()
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  fig.savefig(path, dpi=120)


def print_report(doc: dict) -> None:
  """A sweep's points and comparison as the command line prints them."""
  print(f"{'variant':<10} {'lambda':>7} {'acc':>7} {'bpp':>7} {'bound':>7} {'soft':>7} "
        f"{'k=1 bnd':>7} {'est':>7} {'used':>4}")
  for r in doc["points"]:
    print(f"{r['variant']:<10} {r['rate_lambda']:>7g} {r['accuracy']:>7.4f} {r['bpp']:>7.4f} "
          f"{r['bound_bpp']:>7.4f} {r['bound_soft_bpp']:>7.4f} {r['bound_ungrouped_bpp']:>7.4f} "
          f"{r['estimated_bpp']:>7.4f} {r['profiles_used']:>4}")
  for c in doc["comparison"]:
    print(f"{c['variant']} at {c['bpp']:.4f} bpp: accuracy {c['accuracy']:.4f} vs "
          f"{c['reference_accuracy']:.4f} ({100 * c['gain']:+.2f} points)")


# --------------------------------------------------------------------------
# The command line.


def _encode(paths: list[str]) -> None:
  run = _run()
  data, pixels = cli.encode_image_to_file(paths, flags.FLAGS.output, flags.FLAGS.force,
                                          lambda image: GroupCodec.from_run(run).encode(image))
  print(f"{paths[0]} -> {flags.FLAGS.output}: {len(data)} bytes, "
        f"{8 * len(data) / pixels:.4f} bpp")


def _classify(paths: list[str]) -> None:
  if not paths:
    raise ValueError("usage: python -m lic_jax grouping classify --run RUN FILE.lic ...")
  codec = GroupCodec.from_run(_run())
  for path in paths:
    with open(path, "rb") as f:
      profile, logits = codec.classify(f.read())
    print(f"{path}: class {int(np.argmax(logits))} (profile {profile})")


def _run() -> str:
  if not flags.FLAGS.run:
    raise ValueError("--run RUN: the trained grouped classifier's run directory")
  if not os.path.isdir(flags.FLAGS.run):
    raise FileNotFoundError(f"run directory {flags.FLAGS.run!r} does not exist")
  return flags.FLAGS.run


# What a user passed wrong (a foreign file, a missing run): one line, no
# stack trace. An image that cannot be read is a ValueError.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, container.BitstreamError)


def main(argv):
  """The command (lic_jax/grouping/__main__.py), its flags parsed."""
  commands = ("sweep", "report", "encode", "classify")
  if len(argv) < 2 or argv[1] not in commands:
    raise ValueError(f"usage: python -m lic_jax grouping {'|'.join(commands)} ...")
  command, paths = argv[1], argv[2:]
  if command in ("sweep", "report"):
    if flags.FLAGS.config is None:
      raise ValueError(f"{command} needs --config (e.g. configs/grouping/cifar_sweep.py)")
    print_report((sweep if command == "sweep" else report)(flags.FLAGS.config))
  elif command == "encode":
    _encode(paths)
  else:
    _classify(paths)

