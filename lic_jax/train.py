"""The one trainer (lic_jax.train.train): trains the task recipe config.recipe
names, resumes exactly, and checkpoints atomically. Its command and what it
does: lic_jax.commands.train (`python -m lic_jax train --help`)."""

import contextlib
import importlib.util
import json
import os
import signal
import sys
import threading
import time

import jax
import ml_collections
import optax
from absl import app, flags, logging
from tqdm import tqdm

from lic_jax import checkpoint as checkpoint_lib
from lic_jax import cli
from lic_jax import image as image_lib
from lic_jax import parallel
from lic_jax import parts
from lic_jax import recipes
from lic_jax.train_state import (TrainState, fresh_state, init_variables,
                                 make_optimizer)


class TrainingInterrupted(Exception):
  """SIGINT or SIGTERM stopped training; the step it reached is checkpointed."""


@contextlib.contextmanager
def _stop_requests():
  """A list to which SIGINT and SIGTERM append while training runs, so that
  the loop stops after the step in flight (and saves it) instead of dying
  mid-step; the previous handlers come back afterwards. Signals reach only
  the main thread: elsewhere the list stays empty."""
  requests: list[int] = []
  if threading.current_thread() is not threading.main_thread():
    yield requests
    return
  previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
  for s in previous:
    signal.signal(s, lambda signum, _: requests.append(signum))
  try:
    yield requests
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)


def load_config(path: str) -> ml_collections.ConfigDict:
  """get_config() of a config file (e.g. 'configs/bmshj2018.py'), or
  get_config(arg) for 'file.py:arg' (e.g. 'configs/cbanet/hp_cpu.py:branch2'):
  the config --config=path gives the command line."""
  head, colon, arg = path.rpartition(":")
  path, arg = (head, arg) if colon and os.path.isfile(head) else (path, "")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"config file {path!r} does not exist")
  name = "lic_jax_config_" + os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg) if arg else module.get_config()


def with_overrides(config: ml_collections.ConfigDict, overrides: dict | None = None,
                   runs: str = "runs") -> ml_collections.ConfigDict:
  """A copy of config with nested `overrides` applied ({'num_steps': 40,
  'data': {'batch_size': 4}}) and its run directories (workdir, init_from
  under runs/) moved under `runs`: how a notebook's fast mode, or a search's
  point_overrides, shrinks a config file's budget without a file of its own
  and without touching the full runs."""
  config = config.copy_and_resolve_references()
  if isinstance(overrides, ml_collections.ConfigDict):
    overrides = overrides.to_dict()
  config.lock()  # an override of a key the config lacks is a typo, not a new key
  try:
    config.update(overrides or {})
  except KeyError as e:
    raise ValueError(f"unknown config key in the overrides {overrides}: "
                     f"{str(e.args[0]).split('. Other')[0]}") from None
  finally:
    config.unlock()
  for key in ("workdir", "init_from"):
    path = config.get(key) or ""
    if runs != "runs" and path.startswith("runs/"):
      config[key] = os.path.join(runs, path[len("runs/"):])
  return config


def make_train_step(model, optimizer, config, shardings=None):
  """The jitted step: (state, batch) -> (state, metrics).

  shardings = (state shardings, batch sharding) pins the step's inputs and
  outputs to a mesh (lic_jax.parallel); None leaves placement to JAX.
  """
  recipe = recipes.get(config)
  base_key = jax.random.PRNGKey(config.seed)
  frozen = recipe.frozen_parts(config)

  def loss_fn(params, model_state, batch, key):
    loss, metrics, model_state = recipe.loss(model, params, model_state, batch, key, config)
    return loss, (metrics, model_state)

  def train_step(state: TrainState, batch):
    key = jax.random.fold_in(base_key, state.step)
    grads, (metrics, model_state) = jax.grad(loss_fn, has_aux=True)(
        state.params, state.model_state, batch, key)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    if frozen:
      # Frozen blocks of a model that knows them already leave their batch
      # statistics alone; this keeps those of any other frozen part.
      model_state = {name: parts.keep(collection, state.model_state[name],
                                      parts.mask(collection, frozen))
                     for name, collection in model_state.items()}
      trainable = jax.tree_util.tree_leaves(
          jax.tree_util.tree_map(lambda g, f: None if f else g, grads,
                                 parts.mask(grads, frozen)))
      metrics["grad_norm"] = optax.tree.norm(trainable)
    else:
      metrics["grad_norm"] = optax.tree.norm(grads)
    return TrainState(state.step + 1, params, opt_state, model_state), metrics

  if shardings is None:
    return jax.jit(train_step)
  state_sharding, batch_sharding = shardings
  metrics_sharding = parallel.replicated(batch_sharding.mesh)
  return jax.jit(train_step, in_shardings=(state_sharding, batch_sharding),
                 out_shardings=(state_sharding, metrics_sharding), donate_argnums=_donated(0))


def _donated(*argnums: int) -> tuple[int, ...]:
  """The arguments a jitted function may overwrite: its output then reuses
  their buffers (a step's old state, the variables of a fresh state: half
  the memory); none on XLA:CPU, which cannot reuse donated buffers (it
  warns)."""
  return () if jax.default_backend() == "cpu" else argnums


# The initializers run once, so their program is compiled at XLA's backend
# optimization level 2 of 3: the same variables, bit for bit (tested at the
# defaults), in half the time or less (measured, jax 0.5.3, 2 cores: the
# quickstart's 4.8 s -> 1.7 s, mbt2018 at N=M=192 7.2 s -> 3.0 s, ms2020 at
# N=192, M=320 41 s -> 22 s; level 0 changed kernels by up to 4 ulp).
INITIALIZER_OPTIMIZATION_LEVEL = 2


def initializer_compiler_options() -> dict | None:
  """XLA options for the initializers' program: INITIALIZER_OPTIMIZATION_LEVEL,
  or none under jax_disable_most_optimizations (its level 0 then holds)."""
  if jax.config.read("jax_disable_most_optimizations"):
    return None
  return {"xla_backend_optimization_level": INITIALIZER_OPTIMIZATION_LEVEL}


def sharded_state(model, optimizer, config, mesh):
  """(initial state placed on `mesh`, its shardings)."""
  # One function for the variables, traced once: eval_shape's trace of it
  # is the one the jit below reuses (a model's trace is up to a second).
  def variables_fn():
    return init_variables(model, config)

  abstract = jax.eval_shape(lambda: fresh_state(jax.eval_shape(variables_fn), optimizer))
  shardings = parallel.state_shardings(abstract, mesh, config.fsdp_min_size)
  # Two executables, not one: the variables' (their initializers take most
  # of a small run's start-up to compile) is then the same for every run of
  # a model, whatever its optimizer, lambda or frozen parts, and JAX's
  # compilation cache serves it after the first.
  variables = jax.jit(variables_fn,
                      out_shardings={"params": shardings.params, **shardings.model_state},
                      compiler_options=initializer_compiler_options())()
  state = jax.jit(lambda v: fresh_state(v, optimizer), out_shardings=shardings,
                  donate_argnums=_donated(0))(variables)
  return state, shardings


def _source_variables(source: str) -> dict:
  """{'params': ..., **collections} of another run's newest checkpoint, of
  an exported model (lic_jax.codec export, e.g. a bundled one), or of a
  torchvision ResNet state_dict saved as .npz."""
  if source.endswith(".npz"):
    from lic_jax.models import resnet_torchvision  # pylint: disable=g-import-not-at-top
    return resnet_torchvision.load_npz(source)
  from lic_jax import codec as codec_lib  # pylint: disable=g-import-not-at-top
  if codec_lib.is_exported(source):
    _, _, params = codec_lib.read_exported(source)
    return {"params": params}
  _, variables, _, _ = checkpoint_lib.load_variables(source)
  return variables


def _warm_start(state: TrainState, optimizer, source: str, init_parts=()) -> TrainState:
  """`state` with parameters (and batch statistics) of another run: all of
  them, or the parts `init_parts` names ('part' or 'part=source_part');
  a fresh optimizer state, the step unchanged."""
  variables = _source_variables(source)
  mapping = parts.parse_mapping(init_parts) or None
  what = f"init_from={source!r}"
  try:
    params = parts.transplant(state.params, variables["params"], mapping, what)
    model_state = {name: parts.transplant(collection, variables.get(name, {}), mapping,
                                          what, strict=False)
                   for name, collection in state.model_state.items()}
  except parts.PartError as e:
    raise checkpoint_lib.IncompatibleCheckpointError(str(e)) from None
  return TrainState(state.step, params, optimizer.init(params), model_state)


def _above(progress: tqdm):
  """A context in which log lines go above the progress bar: it is cleared,
  then redrawn below them (a line written next to it splits the bar)."""
  return progress.external_write_mode(file=sys.stderr)


def _append_metrics(workdir: str, record: dict) -> None:
  if jax.process_index() != 0:  # one writer per run directory
    return
  with open(os.path.join(workdir, "metrics.jsonl"), "a") as f:
    f.write(json.dumps(record) + "\n")


def _run_eval(recipe, model, state: TrainState, config, step: int, workdir: str,
              mesh, record: bool = True) -> dict | None:
  summary = recipe.evaluate(model, {"params": state.params, **state.model_state},
                            config, mesh)
  if summary is None:
    return None
  if record:
    # A summary with per-image entries (compression) logs their mean.
    _append_metrics(workdir, {"step": step, "eval": summary.get("mean", summary)})
  logging.info("step %d eval %s", step, recipe.eval_line(summary, config))
  return summary


def _check_parts(config, state: TrainState) -> None:
  names = parts.paths(state.params)
  parts.check_parts(config.get("freeze", ()), names, "config.freeze parts")
  recipe = recipes.get(config)
  parts.check_parts(recipe.frozen_parts(config), names, f"recipe {recipe.name!r} frozen parts")
  if config.get("init_parts", ()) and not config.init_from:
    raise parts.PartError("config.init_parts needs config.init_from (the run or .npz "
                          "file to load them from)")


def train_unless_finished(config: ml_collections.ConfigDict, what: str) -> str:
  """Trains config in config.workdir unless its run already reached
  config.num_steps (resuming an unfinished one); logs `what` when it trains.
  The run directory."""
  checkpointer = checkpoint_lib.Checkpointer(config.workdir)
  done = checkpointer.latest_step() == config.num_steps
  checkpointer.close()
  if not done:
    logging.info("%s", what)
    train(config, config.workdir)
  return config.workdir


def train(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Trains (or resumes) to config.num_steps; returns this process's history.

  Returns {'losses': {step: loss}, 'eval': last eval summary or None}.
  """
  if config.distributed:
    parallel.initialize_distributed()
  lead = jax.process_index() == 0
  recipe = recipes.get(config)
  recipe.check_config(config)
  mesh = parallel.make_mesh(config.mesh)
  batch_sharding = parallel.batch_sharding(mesh)
  parallel.check_batch_size(config.data.batch_size, mesh)
  model = recipe.build_model(config)
  optimizer = make_optimizer(config)
  dataset = recipe.dataset(config, jax.process_index(), jax.process_count())
  changes = checkpoint_lib.check_config(workdir, config)
  state, state_sharding = sharded_state(model, optimizer, config, mesh)
  _check_parts(config, state)
  checkpointer = checkpoint_lib.Checkpointer(workdir, every=config.checkpoint_every,
                                             keep=config.keep_checkpoints)
  if checkpointer.latest_step() is not None:
    state = checkpointer.restore(state)
    logging.info("resumed from step %d in %s", int(state.step), workdir)
  elif config.init_from:
    warm = _warm_start(state, optimizer, config.init_from,
                       tuple(config.get("init_parts", ())))
    state = jax.device_put(warm, state_sharding)
    logging.info("initialized %s from %s", ", ".join(config.get("init_parts", ())) or
                 "all parameters", config.init_from)
  if lead:
    if changes:
      logging.warning("config.json of %s updated: %s", workdir, ", ".join(
          f"{k} {a!r} -> {b!r}" for k, (a, b) in changes.items()))
    if changes or not os.path.exists(os.path.join(workdir, checkpoint_lib.CONFIG_FILE)):
      checkpoint_lib.save_config(workdir, config)
  logging.info("recipe %s; mesh %s over %d devices (%d processes)", recipe.name,
               dict(mesh.shape), mesh.size, jax.process_count())

  train_step = make_train_step(model, optimizer, config, (state_sharding, batch_sharding))
  start = int(state.step)
  losses, last_eval = {}, None
  batches = dataset.iterate(start)
  progress = tqdm(range(start, config.num_steps), initial=start, total=config.num_steps,
                  desc="train", unit="step", mininterval=5.0,
                  disable=config.quiet or not lead)
  window_start, window_steps = time.perf_counter(), 0
  interrupted = False
  with _stop_requests() as stop:
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
        shown = {k: f"{record[k]:.4g}" for k in recipe.progress_metrics}
        progress.set_postfix(shown)
        with _above(progress):
          logging.info("step %d  %s  %.2f steps/s", done,
                       "  ".join(f"{k} {v}" for k, v in shown.items()), rate)
        window_start, window_steps = time.perf_counter(), 0
      losses[done] = metrics["loss"]
      # Read once: a signal after this is handled after the next step. All
      # processes stop at the same step (the save is collective), whichever
      # of them the signal reached.
      interrupted = parallel.any_process(bool(stop))
      checkpointer.save(done, state, force=done == config.num_steps or interrupted)
      if interrupted:
        break
      if config.eval.every and done % config.eval.every == 0 and done < config.num_steps:
        with _above(progress):
          last_eval = _run_eval(recipe, model, state, config, done, workdir, mesh)
  checkpointer.wait()
  checkpointer.close()
  if interrupted:
    progress.close()
    raise TrainingInterrupted(
        f"interrupted ({signal.Signals(stop[0]).name if stop else 'in another process'}) "
        f"after step {int(state.step)}, "
        f"which is checkpointed in {workdir}; run the same command again to resume")
  if start < config.num_steps:
    last_eval = _run_eval(recipe, model, state, config, config.num_steps, workdir, mesh)
  else:
    # A finished run: its final checkpoint is evaluated again for the user
    # (metrics.jsonl already holds that evaluation).
    logging.info("%s has finished its %d steps; evaluating its final checkpoint", workdir,
                 start)
    last_eval = _run_eval(recipe, model, state, config, start, workdir, mesh, record=False)
  return {"losses": {k: float(v) for k, v in losses.items()}, "eval": last_eval}


# What a user passed wrong (a missing checkpoint, another run's directory):
# one line, no stack trace.
USER_ERRORS = (FileNotFoundError, image_lib.ImageReadError,
               checkpoint_lib.IncompatibleCheckpointError,
               checkpoint_lib.InvalidRunDirectoryError,
               parallel.MeshError, recipes.RecipeError, parts.PartError,
               checkpoint_lib.ConfigChangedError, TrainingInterrupted)


def main(argv):
  """The command (lic_jax.commands.train), its flags parsed."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  config = flags.FLAGS.config
  if config is None:
    raise app.UsageError("--config is required, e.g. --config configs/bmshj2018.py")
  workdir = flags.FLAGS.workdir or config.workdir
  result = train(config, workdir)
  if result["eval"] is not None:
    print(f"final eval {recipes.get(config).eval_line(result['eval'], config)}")
  print(f"run directory: {os.path.abspath(workdir)}")


if __name__ == "__main__":
  # The command's flags and usage are its front's.
  cli.run_as_main("lic_jax.commands.train")
