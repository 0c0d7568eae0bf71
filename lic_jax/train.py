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
from lic_jax import parallel
from lic_jax.train_state import TrainState, init_state, make_optimizer
from lic_jax.losses import rate_distortion_loss
from lic_jax.models import model_from_config

def make_train_step(model, optimizer, config, shardings=None):
  """The jitted step: (state, batch) -> (state, metrics).

  shardings = (state shardings, batch sharding) pins the step's inputs and
  outputs to a mesh (lic_jax.parallel); None leaves placement to JAX.
  """
  base_key = jax.random.PRNGKey(config.seed)

  def loss_fn(params, batch, key):
    output = model.apply({"params": params}, batch, training=True,
                         rngs={"noise": key})
    loss, metrics = rate_distortion_loss(batch, output, config.lmbda,
                                         config.distortion)
    aux = model.apply({"params": params}, method=model.aux_loss)
    return loss + aux, dict(metrics, aux_loss=aux)

  def train_step(state: TrainState, batch: jax.Array):
    key = jax.random.fold_in(base_key, state.step)
    grads, metrics = jax.grad(loss_fn, has_aux=True)(state.params, batch, key)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics["grad_norm"] = optax.tree.norm(grads)
    return TrainState(state.step + 1, params, opt_state), metrics

  if shardings is None:
    return jax.jit(train_step)
  state_sharding, batch_sharding = shardings
  metrics_sharding = parallel.replicated(batch_sharding.mesh)
  # XLA:CPU cannot reuse donated buffers (it warns); elsewhere donating the
  # old state halves its memory.
  donate = () if jax.default_backend() == "cpu" else (0,)
  return jax.jit(train_step, in_shardings=(state_sharding, batch_sharding),
                 out_shardings=(state_sharding, metrics_sharding), donate_argnums=donate)


def sharded_state(model, optimizer, config, mesh):
  """(initial state placed on `mesh`, its shardings)."""
  abstract = jax.eval_shape(lambda: init_state(model, optimizer, config))
  shardings = parallel.state_shardings(abstract, mesh, config.fsdp_min_size)
  state = jax.jit(lambda: init_state(model, optimizer, config), out_shardings=shardings)()
  return state, shardings


def _warm_start(state: TrainState, optimizer, run_dir: str) -> TrainState:
  """`state` with the newest parameters of another run (same architecture)."""
  _, params, _, _ = checkpoint_lib.load_trained(run_dir)
  expected = jax.tree_util.tree_map(lambda a: (a.shape, a.dtype), state.params)
  found = jax.tree_util.tree_map(lambda a: (a.shape, a.dtype), params)
  if expected != found:
    raise checkpoint_lib.IncompatibleCheckpointError(
        f"init_from={run_dir!r} holds a different architecture "
                     "than this config's model")
  return TrainState(state.step, params, optimizer.init(params))


def _append_metrics(workdir: str, record: dict) -> None:
  if jax.process_index() != 0:  # one writer per run directory
    return
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
  if config.distributed:
    parallel.initialize_distributed()
  lead = jax.process_index() == 0
  mesh = parallel.make_mesh(config.mesh)
  batch_sharding = parallel.batch_sharding(mesh)
  parallel.check_batch_size(config.data.batch_size, mesh)
  model = model_from_config(config)
  optimizer = make_optimizer(config)
  dataset = data_lib.build_dataset(config, jax.process_index(), jax.process_count())
  checkpointer = checkpoint_lib.Checkpointer(workdir, every=config.checkpoint_every,
                                             keep=config.keep_checkpoints)
  state, state_sharding = sharded_state(model, optimizer, config, mesh)
  if checkpointer.latest_step() is not None:
    state = checkpointer.restore(state)
    logging.info("resumed from step %d in %s", int(state.step), workdir)
  elif config.init_from:
    state = jax.device_put(_warm_start(state, optimizer, config.init_from), state_sharding)
    logging.info("initialized from the parameters of %s", config.init_from)
  if lead:
    checkpoint_lib.save_config(workdir, config)
  logging.info("mesh %s over %d devices (%d processes)", dict(mesh.shape), mesh.size,
               jax.process_count())

  train_step = make_train_step(model, optimizer, config, (state_sharding, batch_sharding))
  start = int(state.step)
  losses, last_eval = {}, None
  batches = dataset.iterate(start)
  progress = tqdm(range(start, config.num_steps), initial=start, total=config.num_steps,
                  desc="train", unit="step", mininterval=5.0,
                  disable=config.quiet or not lead)
  window_start, window_steps = time.perf_counter(), 0
  for step in progress:
    batch = parallel.global_batch(next(batches), batch_sharding)
    state, metrics = train_step(state, batch)
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


def quiet_orbax() -> None:
  logging.get_absl_handler().addFilter(_QuietOrbax())


def main(argv):
  quiet_orbax()
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  config = flags.FLAGS.config
  if config is None:
    raise app.UsageError("--config is required, e.g. --config configs/bmshj2018.py")
  workdir = flags.FLAGS.workdir or config.workdir
  result = train(config, workdir)
  if result["eval"] is not None:
    print(f"final eval ({result['eval']['num_images']} images from "
          f"{config.eval.directory}): {eval_lib.format_metrics(result['eval']['mean'])}")
  print(f"run directory: {os.path.abspath(workdir)}")


if __name__ == "__main__":
  # Defined here, not at import, so that other entry points (lic_jax.sweep)
  # can import this module and define their own --config.
  config_flags.DEFINE_config_file("config", None, "Training config file.",
                                  lock_config=True)
  flags.DEFINE_string("workdir", None, "Run directory (default: config.workdir).")
  cli.run(main, (FileNotFoundError, checkpoint_lib.IncompatibleCheckpointError,
                 parallel.MeshError))
