r"""Trains a compression model on L = R + lambda * D.

  python -m lic_jax.train --config configs/bmshj2018.py \
      --config.lmbda=0.0067 --workdir runs/bmshj2018-q3

The run directory receives config.json, orbax checkpoints and metrics.jsonl.
Re-running the same command resumes from the newest checkpoint: the step, the
parameters, the optimizer state, the data order and the noise RNG all
continue exactly where they stopped (batches and noise are functions of the
step, see lic_jax.data).
"""

import json
import logging as logging_std
import os
import time

import jax
import ml_collections
import optax
from absl import app, flags, logging
from ml_collections import config_flags
from tqdm import tqdm

from lic_jax import checkpoint as checkpoint_lib
from lic_jax import cli
from lic_jax import data as data_lib
from lic_jax import eval as eval_lib
from lic_jax.train_state import TrainState, init_state, make_optimizer
from lic_jax.losses import rate_distortion_loss
from lic_jax.models import model_from_config

_CONFIG = config_flags.DEFINE_config_file("config", None, "Training config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None,
                               "Run directory (default: config.workdir).")


def make_train_step(model, optimizer, config):
  """The jitted step: (state, batch) -> (state, metrics)."""
  base_key = jax.random.PRNGKey(config.seed)

  def loss_fn(params, batch, key):
    output = model.apply({"params": params}, batch, training=True,
                         rngs={"noise": key})
    loss, metrics = rate_distortion_loss(batch, output, config.lmbda,
                                         config.distortion)
    aux = model.apply({"params": params}, method=model.aux_loss)
    return loss + aux, dict(metrics, aux_loss=aux)

  @jax.jit
  def train_step(state: TrainState, batch: jax.Array):
    key = jax.random.fold_in(base_key, state.step)
    grads, metrics = jax.grad(loss_fn, has_aux=True)(state.params, batch, key)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics["grad_norm"] = optax.tree.norm(grads)
    return TrainState(state.step + 1, params, opt_state), metrics

  return train_step


def _append_metrics(workdir: str, record: dict) -> None:
  with open(os.path.join(workdir, "metrics.jsonl"), "a") as f:
    f.write(json.dumps(record) + "\n")


def _run_eval(model, params, config, step: int, workdir: str) -> dict | None:
  if not config.eval.directory:
    return None
  summary = eval_lib.evaluate_directory(model, params, config.eval.directory,
                                        max_images=config.eval.max_images)
  record = {"step": step, "eval": summary["mean"]}
  _append_metrics(workdir, record)
  logging.info("step %d eval on %s: %s", step, config.eval.directory,
               eval_lib.format_metrics(summary["mean"]))
  return summary


def train(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Trains (or resumes) to config.num_steps; returns this process's history.

  Returns {'losses': {step: loss}, 'eval': last eval summary or None}.
  """
  model = model_from_config(config)
  optimizer = make_optimizer(config)
  dataset = data_lib.build_dataset(config)
  checkpointer = checkpoint_lib.Checkpointer(workdir, every=config.checkpoint_every,
                                             keep=config.keep_checkpoints)
  state = init_state(model, optimizer, config)
  if checkpointer.latest_step() is not None:
    state = checkpointer.restore(state)
    logging.info("resumed from step %d in %s", int(state.step), workdir)
  checkpoint_lib.save_config(workdir, config)

  train_step = make_train_step(model, optimizer, config)
  start = int(state.step)
  losses, last_eval = {}, None
  batches = dataset.iterate(start)
  progress = tqdm(range(start, config.num_steps), initial=start, total=config.num_steps,
                  desc="train", unit="step", mininterval=5.0,
                  disable=config.quiet)
  window_start, window_steps = time.perf_counter(), 0
  for step in progress:
    state, metrics = train_step(state, next(batches))
    window_steps += 1
    done = step + 1
    if done % config.log_every == 0 or done == config.num_steps:
      metrics = jax.device_get(metrics)
      rate = window_steps / (time.perf_counter() - window_start)
      record = {"step": done, "steps_per_s": rate,
                **{k: float(v) for k, v in metrics.items()}}
      _append_metrics(workdir, record)
      progress.set_postfix(loss=f"{record['loss']:.4f}", bpp=f"{record['bpp']:.3f}",
                           psnr=f"{record['psnr']:.2f}")
      logging.info("step %d  loss %.4f  bpp %.4f  PSNR %.2f  aux %.1f  %.2f steps/s",
                   done, record["loss"], record["bpp"], record["psnr"],
                   record["aux_loss"], rate)
      window_start, window_steps = time.perf_counter(), 0
    losses[done] = metrics["loss"]
    checkpointer.save(done, state, force=done == config.num_steps)
    if config.eval.every and done % config.eval.every == 0 and done < config.num_steps:
      last_eval = _run_eval(model, state.params, config, done, workdir)
  checkpointer.wait()
  checkpointer.close()
  if start < config.num_steps:
    last_eval = _run_eval(model, state.params, config, config.num_steps, workdir)
  return {"losses": {k: float(v) for k, v in losses.items()}, "eval": last_eval}


class _QuietOrbax(logging_std.Filter):
  """Drops orbax's INFO chatter (several lines per save) from the log."""

  def filter(self, record):
    return record.levelno >= logging_std.WARNING or "/orbax/" not in record.pathname


def main(argv):
  logging.get_absl_handler().addFilter(_QuietOrbax())
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  config = _CONFIG.value
  if config is None:
    raise app.UsageError("--config is required, e.g. --config configs/bmshj2018.py")
  workdir = _WORKDIR.value or config.workdir
  result = train(config, workdir)
  if result["eval"] is not None:
    print(f"final eval ({result['eval']['num_images']} images from "
          f"{config.eval.directory}): {eval_lib.format_metrics(result['eval']['mean'])}")
  print(f"run directory: {os.path.abspath(workdir)}")


if __name__ == "__main__":
  cli.run(main)
