"""Runs one training on several JAX processes of this machine's CPU, as it runs on several hosts.

  python -m lic_jax launch --processes 2 --devices-per-process 2 -- \\
      --config configs/quickstart.py --workdir runs/two_processes

Each process runs `python -m lic_jax train` with the flags after `--` and
--config.distributed=True, with JAX_COORDINATOR_ADDRESS (a free local
port), JAX_NUM_PROCESSES, JAX_PROCESS_ID and XLA's host device count set
(lic_jax.parallel.initialize_distributed reads them). Process 0's output is
shown as it comes; the other processes' lines start with "[process i]".

When a process fails, the others can only wait for it in their next
collective: they get `--grace` seconds to end by themselves, then are
stopped, and one line names the process that failed. Run the same command
again to resume from the last checkpoint. Ctrl-C stops every process after
the same step, checkpointed.

On a Cloud TPU pod or a SLURM cluster JAX finds the processes itself: run
`python -m lic_jax train --config.distributed=True ...` on every host
(`gcloud compute tpus tpu-vm ssh NAME --worker=all --command=...`, `srun`).
"""

import argparse
import signal
import socket
import subprocess
import sys
import threading
import time

from lic_jax import cli


def free_port() -> int:
  """A TCP port of 127.0.0.1 that nothing listens on now."""
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def process_environment(index: int, processes: int, devices: int, port: int) -> dict:
  """The environment of process `index`: the coordinator, the process count
  and index, `devices` CPU devices, no accelerator."""
  return {**cli.cpu_environment(devices), "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}",
          "JAX_NUM_PROCESSES": str(processes), "JAX_PROCESS_ID": str(index)}


def _relay(stream, prefix: str) -> None:
  """Copies a process's output to stderr, each line after `prefix`."""
  for line in iter(stream.readline, ""):
    sys.stderr.write(prefix + line)
  stream.close()


def _stop(processes: list[subprocess.Popen], wait_s: float) -> None:
  """SIGTERM to the processes still running, SIGKILL after wait_s."""
  for p in processes:
    if p.poll() is None:
      p.terminate()
  deadline = time.monotonic() + wait_s
  for p in processes:
    try:
      p.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
      p.kill()
      p.wait()


def _status(code: int) -> str:
  return (f"was killed by {signal.Signals(-code).name}" if code < 0
          else f"exited with status {code}")


def _first_failure(running: list[subprocess.Popen]) -> int | None:
  """The index of the first process that ended with an error, if any."""
  return next((i for i, p in enumerate(running) if p.poll() not in (None, 0)), None)


def launch(train_flags: list[str], processes: int, devices: int, grace_s: float) -> int:
  """Runs the processes to the end; 0, or the status of the first that failed."""
  port = free_port()
  command = [sys.executable, "-m", "lic_jax", "train", *train_flags,
             "--config.distributed=True"]
  running, relays = [], []
  # SIGTERM to the launcher is passed on, from the first process started:
  # they stop after the same step, checkpointed, and the launcher waits.
  signal.signal(signal.SIGTERM, lambda *_: [p.terminate() for p in running
                                            if p.poll() is None])
  for index in range(processes):
    lead = index == 0
    running.append(subprocess.Popen(
        command, env=process_environment(index, processes, devices, port),
        stdout=None if lead else subprocess.PIPE,
        stderr=None if lead else subprocess.STDOUT, text=True))
    if not lead:
      relays.append(threading.Thread(target=_relay, daemon=True, args=(
          running[-1].stdout, f"[process {index}] ")))
      relays[-1].start()
  # Ctrl-C reaches every process of the terminal's group by itself. (Ignored
  # only now: the processes would inherit the ignoring.)
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  while _first_failure(running) is None and any(p.poll() is None for p in running):
    time.sleep(0.2)
  failed, stopped = _first_failure(running), []
  if failed is not None:
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(p.poll() is None for p in running):
      time.sleep(0.2)
    stopped = [i for i, p in enumerate(running) if p.poll() is None]
    _stop(running, 5.0)
  for relay in relays:
    relay.join(timeout=5.0)
  if failed is None:
    return 0
  code = running[failed].returncode
  others = "".join(
      f"; process {i} " + ("stopped" if i in stopped else _status(p.returncode))
      for i, p in enumerate(running) if i != failed)
  print(f"error: process {failed} of {processes} {_status(code)}{others}; run the same "
        "command again to resume from the last checkpoint", file=sys.stderr)
  return code if code > 0 else 1


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog="python -m lic_jax launch",
                                   description=cli.summary(__doc__),
                                   epilog="the flags after -- are lic_jax.train's")
  parser.add_argument("--processes", type=int, default=2, help="JAX processes (default 2)")
  parser.add_argument("--devices-per-process", type=int, default=1,
                      help="CPU devices of each process (default 1)")
  parser.add_argument("--grace", type=float, default=10.0,
                      help="seconds the other processes get to end by themselves after one "
                           "fails (default 10)")
  parser.add_argument("train_flags", nargs=argparse.REMAINDER,
                      help="-- then lic_jax.train's flags")
  args = parser.parse_args(argv)
  flags = args.train_flags[1:] if args.train_flags[:1] == ["--"] else args.train_flags
  if args.processes < 1 or args.devices_per_process < 1:
    parser.error("--processes and --devices-per-process must be at least 1")
  if not flags:
    parser.error("give lic_jax.train's flags after --, e.g. -- --config configs/quickstart.py")
  return launch(flags, args.processes, args.devices_per_process, args.grace)


if __name__ == "__main__":
  sys.exit(main())
