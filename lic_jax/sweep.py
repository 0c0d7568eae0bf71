"""A lambda sweep (lic_jax.sweep.sweep): one model family trained at several
lambdas, warm-started from an anchor, and evaluated with real files into one
RD curve; export_levels writes it as quality levels. Its command and what it
does: lic_jax.commands.sweep (`python -m lic_jax sweep --help`)."""

import json
import os

import ml_collections
from absl import app, flags, logging

from lic_jax import checkpoint as checkpoint_lib
from lic_jax import cli
from lic_jax import files
from lic_jax import eval as eval_lib
from lic_jax import image as image_lib
from lic_jax import parallel
from lic_jax import train as train_lib

EVAL_FILE = "eval_real_bitstream.json"


def run_dir(config: ml_collections.ConfigDict, lmbda: float) -> str:
  return os.path.join(config.workdir, f"lambda{lmbda:g}")


def point_config(config: ml_collections.ConfigDict, index: int) -> ml_collections.ConfigDict:
  """The training config of the index-th lambda of the sweep."""
  point = ml_collections.ConfigDict(config.to_dict())
  del point.sweep
  lmbda = config.sweep.lambdas[index]
  point.lmbda = lmbda
  point.workdir = run_dir(config, lmbda)
  if index > 0 and config.sweep.finetune_steps:
    point.init_from = (config.sweep.get("anchor_model", "") or
                       run_dir(config, config.sweep.lambdas[0]))
    point.num_steps = config.sweep.finetune_steps
    point.learning_rate = config.sweep.finetune_learning_rate
    point.lr_drop_steps = tuple(config.sweep.finetune_lr_drop_steps)
  return point


def curve(name: str, description: str, points: list[tuple[float, dict]]) -> dict:
  """One results JSON from (lambda, eval summary) pairs, sorted by rate."""
  points = sorted(points, key=lambda p: p[1]["mean"]["bpp"])
  results = {"lambda": [lmbda for lmbda, _ in points],
             **eval_lib.schema_results([s["mean"] for _, s in points])}
  return {"name": name, "description": description, "results": results}


def evaluate_cached(codec, cache: str, directory: str) -> dict:
  """Real-bitstream eval summary of a codec; stored in `cache` and reused
  while the model's training step and coding tables are the same."""
  key = {"step": codec.metadata["training_steps"], "directory": directory,
         "tables_hash": codec.tables_hash.hex()}
  if os.path.exists(cache):
    with open(cache) as f:
      stored = json.load(f)
    if all(stored.get(k) == v for k, v in key.items()):
      return stored["summary"]
  summary = eval_lib.evaluate_codec(codec, directory)
  files.write_atomic(cache, json.dumps({**key, "summary": summary}, indent=2).encode())
  return summary


def _anchor_codec(config: ml_collections.ConfigDict):
  """The given anchor model, checked to be trained at the anchor lambda."""
  from lic_jax.codec import Codec  # pylint: disable=g-import-not-at-top

  codec = Codec.load(config.sweep.anchor_model)
  lmbda = codec.metadata.get("lambda")
  if lmbda is not None and lmbda != config.sweep.lambdas[0]:
    raise ValueError(f"config.sweep.anchor_model {config.sweep.anchor_model!r} was trained "
                     f"at lambda={lmbda:g}, not at the first of config.sweep.lambdas "
                     f"({config.sweep.lambdas[0]:g})")
  return codec


def sweep(config: ml_collections.ConfigDict) -> tuple[dict, list]:
  """Trains and evaluates every lambda; returns the curve and, per point,
  (lambda, codec, eval summary, the run or model it came from)."""
  from lic_jax.codec import Codec  # pylint: disable=g-import-not-at-top

  points = []
  os.makedirs(config.workdir, exist_ok=True)
  for index, lmbda in enumerate(config.sweep.lambdas):
    point = point_config(config, index)
    if index == 0 and config.sweep.get("anchor_model", ""):
      logging.info("sweep point 1/%d: lambda=%g is %s", len(config.sweep.lambdas), lmbda,
                   config.sweep.anchor_model)
      codec = _anchor_codec(config)
      source = config.sweep.anchor_model
      cache = os.path.join(config.workdir, "anchor_" + EVAL_FILE)
    else:
      logging.info("sweep point %d/%d: lambda=%g in %s", index + 1,
                   len(config.sweep.lambdas), lmbda, point.workdir)
      train_lib.train(point, point.workdir)
      codec = Codec.from_checkpoint(point.workdir)
      source = point.workdir
      cache = os.path.join(point.workdir, EVAL_FILE)
    summary = evaluate_cached(codec, cache, config.sweep.eval_directory)
    logging.info("lambda=%g: %s", lmbda, eval_lib.format_metrics(summary["mean"]))
    points.append((lmbda, codec, summary, source))
  anchor = (config.sweep.get("anchor_model", "") or
            f"{config.num_steps} steps at lambda={config.sweep.lambdas[0]:g}")
  steps = (f"{anchor}, then {config.sweep.finetune_steps} fine-tuning steps per other lambda"
           if config.sweep.finetune_steps else f"{config.num_steps} steps per lambda")
  description = (f"lic_jax.sweep of {config.model.to_dict()}: {steps}; "
                 f"{config.data.batch_size}x{config.data.crop_size}^2 crops; "
                 f"real range-coded bpp on {config.sweep.eval_directory}")
  result = curve(config.sweep.name, description, [(p[0], p[2]) for p in points])
  return result, points


def export_levels(points: list, directory: str, eval_directory: str) -> list[str]:
  """Writes the points as quality levels directory/q1 (lowest rate) ... qn;
  a level fine-tuned from another names it ('init_from': 'q3')."""
  points = sorted(points, key=lambda p: p[2]["mean"]["bpp"])
  names = {os.path.abspath(p[3]): f"q{quality}" for quality, p in enumerate(points, start=1)}
  paths = []
  for quality, (_, codec, summary, _) in enumerate(points, start=1):
    mean = summary["mean"]
    meta = {**codec.metadata, "quality": quality, "evaluation": {
        "data": os.path.basename(os.path.normpath(eval_directory)),
        "images": summary["num_images"], "bpp": mean["bpp"], "psnr": mean["psnr"],
        "ms_ssim": mean["ms_ssim"]}}
    if "init_from" in meta:
      meta["init_from"] = names.get(os.path.abspath(meta["init_from"]), meta["init_from"])
    codec.metadata = meta
    path = os.path.join(directory, f"q{quality}")
    codec.export(path)
    paths.append(path)
  return paths


# What a user passed wrong: one line, no stack trace.
USER_ERRORS = (FileNotFoundError, image_lib.ImageReadError,
               checkpoint_lib.IncompatibleCheckpointError,
               parallel.MeshError, checkpoint_lib.ConfigChangedError)


def main(argv):
  """The command (lic_jax.commands.sweep), its flags parsed."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  config = flags.FLAGS.config
  if config is None:
    raise app.UsageError("--config is required, e.g. --config configs/bmshj2018_cpu_sweep.py")
  result, points = sweep(config)
  output = flags.FLAGS.output or config.sweep.output
  eval_lib.write_json(output, result)
  r = result["results"]
  for lmbda, bpp, psnr in zip(r["lambda"], r["bpp"], r["psnr-rgb"]):
    print(f"lambda={lmbda:g}: bpp={bpp:.4f} psnr={psnr:.2f}dB")
  print(f"wrote {output}")
  if flags.FLAGS.export:
    for path in export_levels(points, flags.FLAGS.export, config.sweep.eval_directory):
      print(f"exported {path}")


if __name__ == "__main__":
  # The command's flags and usage are its front's.
  cli.run_as_main("lic_jax.commands.sweep")
