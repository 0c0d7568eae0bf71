r"""Trains one model family at several lambdas and evaluates it into one RD curve.

  python -m lic_jax.sweep --config configs/bmshj2018_cpu_sweep.py \
      [--output results/kodak/lic_jax-bmshj2018-cpu.json]

config.sweep.lambdas lists the rate points. The first, the anchor, is trained
from scratch for config.num_steps; every other lambda starts from the
anchor's final parameters and trains config.sweep.finetune_steps more (the
usual way to get a family cheaply; set finetune_steps = 0 to train every
lambda from scratch instead). Each point is then evaluated on
config.sweep.eval_directory with real bitstreams (range-coded bpp, decoded
images), and the points are written as one curve in CompressAI's results
schema, sorted by rate, with the lambdas alongside. Every run directory
(<workdir>/lambda<value>) resumes like lic_jax.train, so re-running a killed
sweep continues where it stopped.
"""

import json
import os

import ml_collections
from absl import app, flags, logging
from ml_collections import config_flags

from lic_jax import checkpoint as checkpoint_lib
from lic_jax import cli
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
    point.init_from = run_dir(config, config.sweep.lambdas[0])
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


def _evaluate(workdir: str, directory: str) -> dict:
  """Real-bitstream eval summary of the run's newest checkpoint; stored in
  the run directory and reused while the checkpoint and its coding tables
  are the same."""
  from lic_jax.codec import Codec  # pylint: disable=g-import-not-at-top

  path = os.path.join(workdir, EVAL_FILE)
  codec = Codec.from_checkpoint(workdir)
  key = {"step": codec.metadata["training_steps"], "directory": directory,
         "tables_hash": codec.tables_hash.hex()}
  if os.path.exists(path):
    with open(path) as f:
      stored = json.load(f)
    if all(stored.get(k) == v for k, v in key.items()):
      return stored["summary"]
  summary = eval_lib.evaluate_directory(codec.model, codec.impl.params, directory,
                                        codec=codec)
  checkpoint_lib.write_atomic(path, json.dumps({**key, "summary": summary}, indent=2).encode())
  return summary


def sweep(config: ml_collections.ConfigDict) -> dict:
  """Trains and evaluates every lambda; returns the curve."""
  points = []
  for index, lmbda in enumerate(config.sweep.lambdas):
    point = point_config(config, index)
    logging.info("sweep point %d/%d: lambda=%g in %s", index + 1,
                 len(config.sweep.lambdas), lmbda, point.workdir)
    train_lib.train(point, point.workdir)
    summary = _evaluate(point.workdir, config.sweep.eval_directory)
    logging.info("lambda=%g: %s", lmbda, eval_lib.format_metrics(summary["mean"]))
    points.append((lmbda, summary))
  steps = (f"{config.num_steps} steps at lambda={config.sweep.lambdas[0]:g}, then "
           f"{config.sweep.finetune_steps} fine-tuning steps per other lambda"
           if config.sweep.finetune_steps else f"{config.num_steps} steps per lambda")
  description = (f"lic_jax.sweep of {config.model.to_dict()}: {steps}; "
                 f"{config.data.batch_size}x{config.data.crop_size}^2 crops; "
                 f"real range-coded bpp on {config.sweep.eval_directory}")
  return curve(config.sweep.name, description, points)


def main(argv):
  train_lib.quiet_orbax()
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  config = flags.FLAGS.config
  if config is None:
    raise app.UsageError("--config is required, e.g. --config configs/bmshj2018_cpu_sweep.py")
  result = sweep(config)
  output = flags.FLAGS.output or config.sweep.output
  eval_lib.write_json(output, result)
  r = result["results"]
  for lmbda, bpp, psnr in zip(r["lambda"], r["bpp"], r["psnr-rgb"]):
    print(f"lambda={lmbda:g}: bpp={bpp:.4f} psnr={psnr:.2f}dB")
  print(f"wrote {output}")


if __name__ == "__main__":
  config_flags.DEFINE_config_file("config", None, "Sweep config file.", lock_config=True)
  flags.DEFINE_string("output", None, "Curve JSON to write (default: config.sweep.output).")
  cli.run(main, (FileNotFoundError, image_lib.ImageReadError,
                 checkpoint_lib.IncompatibleCheckpointError,
                 parallel.MeshError, checkpoint_lib.ConfigChangedError))
