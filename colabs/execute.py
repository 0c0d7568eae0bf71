r"""Executes notebooks top to bottom, as CI does, and fails on any cell error:

  python colabs/execute.py                     # every colabs/*.ipynb, MODE = "fast"
  python colabs/execute.py colabs/ohm.ipynb --mode full

Each notebook runs in a fresh kernel of this Python from the repository
root, with `MODE = ...` injected after its cell tagged "parameters"
(papermill's convention, so `papermill -p MODE fast` runs them too). The
executed copies, outputs included, go to --output-dir (the notebooks in git
stay stripped: tests/test_colabs.py); each notebook's wall time is printed
and written to --output-dir/times.json. --jobs runs that many notebooks at
once, each in its own process (CI: 2, one per core of its machine). Every
notebook draws figures: one whose executed copy holds no image fails too
(a figure that never shows, as when a module switched matplotlib to a
non-interactive backend).
"""

import argparse
import concurrent.futures
import glob
import json
import multiprocessing
import os
import sys
import time

import nbclient
import nbformat

from lic_jax.notebooks import MODES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def with_parameters(notebook, mode: str):
  """The notebook with `MODE = mode` in a cell after its parameters cell."""
  tagged = [i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", [])]
  if len(tagged) != 1:
    raise ValueError(f"needs exactly one cell tagged 'parameters', found {len(tagged)}")
  cell = nbformat.v4.new_code_cell(f"MODE = {mode!r}")
  cell.metadata["tags"] = ["injected-parameters"]
  notebook.cells.insert(tagged[0] + 1, cell)
  return notebook


def figures(notebook) -> int:
  """How many images (PNG, SVG or JPEG) the notebook's outputs display."""
  kinds = ("image/png", "image/svg+xml", "image/jpeg")
  return sum(any(kind in output.get("data", {}) for kind in kinds)
             for cell in notebook.cells if cell.cell_type == "code"
             for output in cell.get("outputs", []))


def execute(path: str, mode: str, output_dir: str, cell_timeout: int) -> float:
  """Runs one notebook, writing its executed copy into output_dir (which
  exists); its wall time in seconds. Raises on a cell error."""
  notebook = with_parameters(nbformat.read(path, as_version=4), mode)
  client = nbclient.NotebookClient(notebook, timeout=cell_timeout, kernel_name="python3",
                                   resources={"metadata": {"path": ROOT}})
  start = time.perf_counter()
  try:
    client.execute()
  finally:
    nbformat.write(notebook, os.path.join(output_dir, os.path.basename(path)))
  if not figures(notebook):
    raise ValueError("its executed copy displays no figure")
  return time.perf_counter() - start


def _run(path: str, mode: str, output_dir: str, cell_timeout: int) -> tuple[float | None, str]:
  """execute() in a worker process: (wall time, "") or (None, why it failed)."""
  name = os.path.basename(path)
  try:
    return execute(path, mode, output_dir, cell_timeout), ""
  except nbclient.exceptions.CellExecutionError as e:
    return None, f"{name} FAILED; the executed copy is in {output_dir}\n{e}"
  except ValueError as e:  # not a notebook (nbformat), no parameters cell, no figure
    return None, f"{name} FAILED: {e}"


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("notebooks", nargs="*",
                      default=sorted(glob.glob(os.path.join(ROOT, "colabs", "*.ipynb"))))
  parser.add_argument("--mode", default="fast", choices=MODES)
  parser.add_argument("--output-dir", default=os.path.join(ROOT, "runs", "notebooks"))
  parser.add_argument("--cell-timeout", type=int, default=1800,
                      help="seconds a cell may run (default 1800)")
  parser.add_argument("--jobs", type=int, default=1,
                      help="notebooks executed at once (default 1)")
  args = parser.parse_args(argv)
  if args.jobs < 1:
    parser.error(f"--jobs must be at least 1, not {args.jobs}")
  os.makedirs(args.output_dir, exist_ok=True)
  times, failed = {}, []
  # Spawned, not forked: the parent has imported JAX (lic_jax.notebooks),
  # whose threads a fork would copy in an unknown state.
  with concurrent.futures.ProcessPoolExecutor(
      args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
    count = len(args.notebooks)
    print(f"{count} notebook{'s' * (count != 1)} (MODE={args.mode}), {args.jobs} at a time ...",
          flush=True)
    running = {pool.submit(_run, path, args.mode, args.output_dir, args.cell_timeout): path
               for path in args.notebooks}
    for done in concurrent.futures.as_completed(running):
      name = os.path.basename(running[done])
      seconds, why = done.result()
      if seconds is None:
        failed.append(name)
        print(why, flush=True)
      else:
        times[name] = seconds
        print(f"{name}: {seconds:.0f} s", flush=True)
  with open(os.path.join(args.output_dir, "times.json"), "w") as f:
    json.dump({"mode": args.mode, "jobs": args.jobs, "seconds": times, "failed": failed}, f,
              indent=2)
  if failed:
    print(f"failed: {', '.join(sorted(failed))}")
    return 1
  print("every notebook ran: " + ", ".join(f"{n} {t:.0f} s" for n, t in sorted(times.items())))
  return 0


if __name__ == "__main__":
  sys.exit(main())
