"""Device meshes and shardings for data-parallel (and FSDP-style) training.

The mesh comes from the config, e.g. config.mesh = {'data': -1, 'fsdp': 1}
(all devices along the data axis) or {'data': -1, 'fsdp': 4}. The global batch is split
along every mesh axis; the parameters and optimizer state are replicated,
except that with an 'fsdp' axis every tensor of at least
config.fsdp_min_size elements is split along its largest dimension that the
'fsdp' axis divides (XLA then all-gathers it where it is used and
reduce-scatters its gradient). One jitted step with these in/out shardings
is all there is to it: XLA inserts the collectives.

Multi-host: every process runs the same program, loads only its slice of
the global batch (lic_jax.data with process_index/process_count), and
`global_batch` assembles the slices into one global array.
"""

import math
import os
from typing import Any

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

AXES = ("data", "fsdp")

_distributed_initialized = False


class MeshError(ValueError):
  """config.mesh (or the batch size) does not fit the devices."""


def initialize_distributed() -> None:
  """jax.distributed.initialize() once per process (multi-host runs).

  On Cloud TPU, under SLURM and under Open MPI, JAX discovers the
  coordinator address, the process count and this process's index; elsewhere
  they come from JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and
  JAX_PROCESS_ID (python -m lic_jax launch sets them; JAX reads only the
  first, the other two are read here). Collectives between processes on CPUs
  go through gloo (jax 0.5.3 has none by default; later JAX uses it).
  """
  global _distributed_initialized
  if _distributed_initialized:
    return
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(num_processes=_environment_int("JAX_NUM_PROCESSES"),
                             process_id=_environment_int("JAX_PROCESS_ID"))
  if jax.process_count() > 1 and jax.default_backend() == "cpu":
    # Executables from the persistent compilation cache desynchronise gloo's
    # collectives between processes (jax 0.5.3: both processes abort in
    # gloo's "op.preamble.length <= op.nbytes" on the second run of a
    # configuration): CPU processes compile afresh.
    jax.config.update("jax_enable_compilation_cache", False)
  _distributed_initialized = True


def _environment_int(name: str) -> int | None:
  value = os.environ.get(name)
  if value is None:
    return None
  if not value.isdigit():
    raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
  return int(value)


def any_process(flag: bool) -> bool:
  """Whether `flag` is true in any process (every process gets the same
  answer; a collective where there are several)."""
  if jax.process_count() == 1:
    return flag
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return bool(np.any(multihost_utils.process_allgather(np.array(flag))))


def mesh_shape(axes: dict[str, int], num_devices: int) -> dict[str, int]:
  """Resolves one -1 axis size to the devices the others leave over."""
  unknown = [name for name in axes if name not in AXES]
  if unknown:
    raise MeshError(f"unknown mesh axes {unknown}; known axes: {list(AXES)}")
  if not axes:
    raise MeshError("config.mesh names no axis; use e.g. {'data': -1}")
  free = [name for name, size in axes.items() if size == -1]
  if len(free) > 1:
    raise MeshError(f"at most one mesh axis may be -1, got {dict(axes)}")
  fixed = math.prod(size for size in axes.values() if size != -1)
  if any(size == 0 or size < -1 for size in axes.values()) or num_devices % fixed:
    raise MeshError(f"mesh {dict(axes)} does not fit {num_devices} devices")
  shape = {name: (num_devices // fixed if size == -1 else size)
           for name, size in axes.items()}
  if math.prod(shape.values()) != num_devices:
    raise MeshError(f"mesh {shape} uses {math.prod(shape.values())} devices, "
                     f"but there are {num_devices}")
  return shape


def make_mesh(axes: dict[str, int] | ml_collections.ConfigDict,
              devices: list | None = None) -> Mesh:
  """A mesh over `devices` (default: all) with the named axis sizes."""
  devices = jax.devices() if devices is None else list(devices)
  axes = dict(axes.items())
  shape = mesh_shape(axes, len(devices))
  grid = np.asarray(devices, dtype=object).reshape(tuple(shape.values()))
  return Mesh(grid, tuple(shape))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """The batch dimension split over every mesh axis."""
  return NamedSharding(mesh, P(mesh.axis_names))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def _leaf_spec(shape: tuple[int, ...], mesh: Mesh, fsdp_min_size: int) -> P:
  ways = mesh.shape.get("fsdp", 1)
  if ways == 1 or math.prod(shape) < fsdp_min_size:
    return P()
  for dim in sorted(range(len(shape)), key=lambda d: -shape[d]):
    if shape[dim] % ways == 0:
      return P(*([None] * dim + ["fsdp"]))
  return P()


def state_shardings(abstract_state: Any, mesh: Mesh, fsdp_min_size: int) -> Any:
  """Shardings for a pytree of arrays: replicated, or FSDP-split if large.

  The rule depends only on a leaf's shape, so Adam's moments get the same
  layout as their parameters.
  """
  return jax.tree_util.tree_map(
      lambda leaf: NamedSharding(mesh, _leaf_spec(tuple(leaf.shape), mesh, fsdp_min_size)),
      abstract_state)


def check_batch_size(global_batch: int, mesh: Mesh) -> None:
  """Raises a MeshError naming both unless the mesh splits the batch evenly."""
  if global_batch % mesh.size:
    raise MeshError(f"batch size {global_batch} is not a multiple of the "
                     f"{mesh.size} devices of mesh {dict(mesh.shape)}")


def global_batch(local: Any, sharding: NamedSharding) -> Any:
  """One global array from every process's slice of the batch (for each
  array of a batch that is a dict of them)."""
  return jax.tree_util.tree_map(
      lambda a: jax.make_array_from_process_local_data(sharding, a), local)
