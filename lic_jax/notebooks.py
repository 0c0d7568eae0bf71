"""What the notebooks in colabs/ share: where the repository and the data
are, and the scale a notebook runs at.

Every notebook has a parameters cell, MODE = 'fast' | 'full' | 'paper':

- 'fast' shrinks the budgets (steps, widths, images) so that the notebook
  runs top to bottom in minutes on a CPU (CI executes every notebook so);
  its runs go under runs/fast/, beside, never over, the full runs;
- 'full' runs the repository's CPU-scale configs unchanged: the numbers in
  results/ (a notebook's full mode takes what its section of
  results/README.md says, hours on two cores);
- 'paper' the papers' configs (widths, schedules, data) for an accelerator,
  on Colab a TPU or GPU runtime.

The data: $LIC_JAX_DATA when set, else ../shared/data beside the
repository (this project's machines), else COLAB_DATA (on Colab: copy the
folders a notebook needs there, e.g. from Drive; the error says which).
"""

import dataclasses
import os
import sys

import ml_collections

from lic_jax import cli
from lic_jax import data as data_lib

MODES = ("fast", "full", "paper")
COLAB_DATA = "/content/lic_jax_data"


@dataclasses.dataclass(frozen=True)
class Setup:
  mode: str
  root: str    # the repository: configs/, results/, runs/
  data: str    # the data root ($LIC_JAX_DATA, set for the library)
  colab: bool

  @property
  def fast(self) -> bool:
    return self.mode == "fast"

  @property
  def runs(self) -> str:
    """Where this mode's runs go: runs/fast/ (fast), runs/ (full, paper)."""
    return os.path.join("runs", "fast") if self.fast else "runs"

  def pick(self, fast, full, paper=None):
    """The value of this mode (paper defaults to full's)."""
    return {"fast": fast, "full": full, "paper": full if paper is None else paper}[self.mode]

  def config(self, path: str, fast_overrides: dict | None = None) -> ml_collections.ConfigDict:
    """A config file ('configs/x.py[:arg]') as this mode runs it: in fast
    mode with fast_overrides (nested: {'num_steps': 40, 'data': {...}}) and
    its runs under runs/fast/; unchanged otherwise."""
    from lic_jax import train  # pylint: disable=g-import-not-at-top

    config = train.load_config(path)
    return train.with_overrides(config, fast_overrides, self.runs) if self.fast else config


def repository_root() -> str:
  """The checkout lic_jax is imported from (an editable install or the
  current directory): where configs/ and results/ are."""
  import lic_jax  # pylint: disable=g-import-not-at-top

  root = os.path.dirname(os.path.dirname(os.path.abspath(lic_jax.__file__)))
  if not os.path.isdir(os.path.join(root, "configs")):
    raise FileNotFoundError(
        f"lic_jax is imported from {root}, which is not a checkout of the repository "
        "(no configs/): clone it and pip install -e it (the notebook's first cell)")
  return root


def find_data(root: str, needs: tuple[str, ...]) -> str:
  """The first data root that holds every folder in `needs`."""
  candidates = [os.environ.get("LIC_JAX_DATA"), os.path.join(root, "..", "shared", "data"),
                COLAB_DATA]
  for candidate in filter(None, candidates):
    if all(os.path.isdir(os.path.join(candidate, need)) for need in needs):
      return os.path.abspath(candidate)
  tried = ", ".join(filter(None, candidates))
  raise FileNotFoundError(
      f"no data root with {', '.join(f'{n}/' for n in needs)} (tried {tried}): on Colab "
      f"copy those folders of the project's data to {COLAB_DATA}, elsewhere set LIC_JAX_DATA")


def setup(mode: str, needs: tuple[str, ...] = ()) -> Setup:
  """Checks the mode, moves to the repository root, finds the data the
  notebook `needs` (folders of the data root: 'kodak', 'mnist', ...), and
  keeps compilations of a second or more in JAX's persistent cache, as the
  commands do (lic_jax.cli.enable_compilation_cache): a notebook's CBANet
  stages share their model's init, a rerun most of its steps."""
  if mode not in MODES:
    raise ValueError(f"MODE must be one of {', '.join(MODES)}, not {mode!r}")
  cli.enable_compilation_cache(min_compile_time_s=1.0)
  root = repository_root()
  os.chdir(root)
  data = find_data(root, needs) if needs else os.path.abspath(data_lib.data_root())
  os.environ["LIC_JAX_DATA"] = data
  result = Setup(mode=mode, root=root, data=data, colab="google.colab" in sys.modules)
  print(f"mode {mode}: repository {root}, data {data}, runs in {result.runs}/"
        f"{' (Colab)' if result.colab else ''}")
  return result
