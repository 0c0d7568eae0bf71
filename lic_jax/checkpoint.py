"""Orbax checkpoints of the training state, plus the config that made them.

Orbax writes each step into a temporary directory and renames it when the
write is complete, so a run killed mid-save leaves the previous checkpoint
intact; the unfinished one is ignored on restore.

A run directory holds:
  config.json          the full training config (to rebuild the model)
  checkpoints/<step>/  orbax checkpoints of {step, params, opt_state}
"""

import json
import os

import jax
import ml_collections
import orbax.checkpoint as ocp

from lic_jax import recipes
from lic_jax.files import write_atomic
from lic_jax.train_state import TrainState, init_state, make_optimizer

CONFIG_FILE = "config.json"


class MissingCheckpointError(FileNotFoundError):
  """The directory holds no complete checkpoint."""


class InvalidRunDirectoryError(ValueError):
  """A run directory whose name checkpoints cannot live in."""


class IncompatibleCheckpointError(ValueError):
  """A checkpoint that does not fit the model or state it is loaded into."""


def save_config(workdir: str, config: ml_collections.ConfigDict) -> None:
  os.makedirs(workdir, exist_ok=True)
  write_atomic(os.path.join(workdir, CONFIG_FILE),
               config.to_json_best_effort(indent=2, sort_keys=True).encode())


class ConfigChangedError(ValueError):
  """A run directory resumed with a config that trains something else."""


# Keys that may differ between the runs of one run directory: how long it
# runs, how it logs, and where (meshes move between devices, see
# lic_jax.parallel). Anything else changes what is trained.
RESUMABLE_CHANGES = ("num_steps", "log_every", "checkpoint_every", "keep_checkpoints",
                     "quiet", "workdir", "mesh", "fsdp_min_size", "distributed", "eval",
                     "allow_changes")
# Keys that decide the shapes of the checkpointed state; not even
# allow_changes continues a run with other values.
ARCHITECTURE_KEYS = ("model", "recipe")


def _flat(tree, prefix: str = "") -> dict:
  if not isinstance(tree, dict):
    return {prefix: tree}
  flat = {}
  for key, value in tree.items():
    flat.update(_flat(value, f"{prefix}.{key}" if prefix else key))
  return flat


def config_changes(workdir: str, config: ml_collections.ConfigDict) -> dict[str, tuple]:
  """{dotted key: (stored, now)} for every key of the run directory's stored
  config.json whose value `config` changes ({} where there is none). Keys
  the stored config lacks are not compared: they were added to lic_jax
  after the run started, with defaults that keep what it did."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    stored = _flat(json.load(f))
  now = _flat(json.loads(config.to_json_best_effort()))
  return {key: (value, now.get(key)) for key, value in sorted(stored.items())
          if now.get(key) != value}


def check_config(workdir: str, config: ml_collections.ConfigDict) -> dict[str, tuple]:
  """The changes against the stored config; raises ConfigChangedError
  naming them if any is outside RESUMABLE_CHANGES, unless
  config.allow_changes, and always for a change of architecture
  (ARCHITECTURE_KEYS: the checkpoint's shapes cannot hold another)."""
  changes = config_changes(workdir, config)
  architecture = {k: v for k, v in changes.items() if k.split(".")[0] in ARCHITECTURE_KEYS}
  if architecture:
    listed = ", ".join(f"{k} ({a!r} -> {b!r})" for k, (a, b) in architecture.items())
    raise ConfigChangedError(
        f"{workdir!r} holds another architecture: {listed}; its checkpoints cannot "
        "continue with other shapes: use another --workdir (--config.init_from can "
        "start it from this run where the shapes allow)")
  refused = {k: v for k, v in changes.items()
             if k.split(".")[0] not in RESUMABLE_CHANGES}
  if refused and not config.get("allow_changes", False):
    listed = ", ".join(f"{k} ({a!r} -> {b!r})" for k, (a, b) in refused.items())
    raise ConfigChangedError(
        f"{workdir!r} was trained with another config: {listed}; use another --workdir, "
        "or --config.allow_changes=True to continue this run with the new values")
  return changes


def load_config(workdir: str) -> ml_collections.ConfigDict:
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    raise MissingCheckpointError(
        f"{workdir!r} is not a lic_jax run directory: {CONFIG_FILE} is missing")
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


class Checkpointer:
  """Saves every `every` steps (asynchronously), keeps the newest `keep`."""

  def __init__(self, workdir: str, every: int = 1000, keep: int = 3):
    # Orbax finds and writes checkpoint files through glob patterns: in a
    # directory named with a glob character its saves are unreadable
    # (measured: a finished run of 'runs/x/layer2[2],...' had no step).
    glob_characters = set("[]*?") & set(os.path.abspath(workdir))
    if glob_characters:
      raise InvalidRunDirectoryError(
          f"run directory {workdir!r} contains {''.join(sorted(glob_characters))}: "
          "checkpoints cannot be written there (choose a name without [ ] * ?)")
    self._manager = ocp.CheckpointManager(
        os.path.abspath(os.path.join(workdir, "checkpoints")),
        options=ocp.CheckpointManagerOptions(
            save_interval_steps=every, max_to_keep=keep, create=True,
            enable_async_checkpointing=True),
        item_handlers=ocp.StandardCheckpointHandler())

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, state, force: bool = False) -> bool:
    return self._manager.save(step, args=ocp.args.StandardSave(state), force=force)

  def restore(self, abstract_state, step: int | None = None):
    """Restores into the structure/shardings of `abstract_state`."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise MissingCheckpointError(
          f"no complete checkpoint in {self._manager.directory}")
    default = jax.sharding.SingleDeviceSharding(jax.devices()[0])

    def target(leaf):
      sharding = getattr(leaf, "sharding", None) or default
      return jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=sharding)

    abstract = jax.tree_util.tree_map(target, abstract_state)
    if isinstance(abstract, TrainState) and not abstract.model_state and (
        "model_state" not in self._manager.item_metadata(step)):
      # Written before TrainState had model_state (by a model without batch
      # statistics, the only kind there was): the same state without it.
      fields = {"step": abstract.step, "params": abstract.params,
                "opt_state": abstract.opt_state}
      return TrainState(**self._restore(step, fields))
    return self._restore(step, abstract)

  def _restore(self, step: int, abstract):
    try:
      return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
    except ValueError as e:  # orbax's tree and shape mismatches, pages long
      raise IncompatibleCheckpointError(
          f"the checkpoint of step {step} in {self._manager.directory} does not fit this "
          "config's training state (another model, optimizer, gradient clipping or set of "
          f"frozen parts?): {str(e).splitlines()[0][:120]}...") from None

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()


def load_variables(workdir: str):
  """(model, variables, config, step) of the newest checkpoint of a run
  directory; variables = {'params': ..., **the model's other collections}."""
  config = load_config(workdir)
  model = recipes.get(config).build_model(config)
  optimizer = make_optimizer(config)
  abstract = jax.eval_shape(lambda: init_state(model, optimizer, config))
  checkpointer = Checkpointer(workdir)
  state = checkpointer.restore(abstract)
  checkpointer.close()
  return model, {"params": state.params, **state.model_state}, config, int(state.step)


def load_trained(workdir: str):
  """(model, params, config, step) of the newest checkpoint of a run directory."""
  model, variables, config, step = load_variables(workdir)
  return model, variables["params"], config, step
