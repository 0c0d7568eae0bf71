r"""Data-parallel training steps/s on 1, 2, 4, 8 host devices, and the
paper-scale configs' per-device batch and memory.

  python benchmarks/scaling.py [--devices 1,2,4,8] [--steps 10] \
      [--markdown results/scaling.md] [--json results/scaling.json]

Each device count runs in its own subprocess with
XLA_FLAGS=--xla_force_host_platform_device_count=N, training bmshj2018
(N=128, M=192) on a global batch of 8 128x128 crops sharded over a
{'data': N} mesh (lic_jax.train's step and shardings). On one CPU the N
"devices" share the same cores, so this measures the overhead of sharding
(collectives, partitioned compilation), not a speed-up.

Memory: for each config under configs/tpu and configs/gpu, the step is
compiled for ONE device at the config's per-device batch (global batch /
devices of the target slice, given in the table) and XLA's memory analysis
reports arguments (parameters + optimizer state + batch) and temporaries.
These are XLA:CPU figures: TPU/GPU layouts differ by tens of percent.
"""

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys

from lic_jax import cli  # absl flags only: jax is imported after XLA_FLAGS is set

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Devices of the slice each paper-scale config is written for.
TARGET_DEVICES = {"tpu/v5e16_bmshj2018": 16, "tpu/v5e16_mbt2018": 16,
                  "gpu/x8_bmshj2018": 8}


def load_config(name: str):
  path = os.path.join(ROOT, "configs", f"{name}.py")
  spec = importlib.util.spec_from_file_location(name.replace("/", "_"), path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def _child_steps_per_s(steps: int) -> dict:
  """Runs inside the subprocess: times the sharded step on all its devices."""
  import time  # pylint: disable=import-outside-toplevel

  import jax  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel

  from lic_jax import parallel  # pylint: disable=import-outside-toplevel
  from lic_jax.models import model_from_config  # pylint: disable=import-outside-toplevel
  from lic_jax.train import make_train_step, sharded_state  # pylint: disable=import-outside-toplevel
  from lic_jax.train_state import make_optimizer  # pylint: disable=import-outside-toplevel

  config = load_config("bmshj2018")
  config.data.crop_size, config.data.batch_size = 128, 8
  mesh = parallel.make_mesh({"data": -1})
  model, optimizer = model_from_config(config), make_optimizer(config)
  state, shardings = sharded_state(model, optimizer, config, mesh)
  batch_sharding = parallel.batch_sharding(mesh)
  step = make_train_step(model, optimizer, config, (shardings, batch_sharding))
  images = np.random.default_rng(0).random((8, 128, 128, 3), dtype=np.float32)
  batch = parallel.global_batch(images, batch_sharding)
  start = time.perf_counter()
  state, metrics = step(state, batch)
  jax.block_until_ready(metrics)
  compile_s = time.perf_counter() - start
  state, metrics = step(state, batch)
  jax.block_until_ready(metrics)
  start = time.perf_counter()
  for _ in range(steps):
    state, metrics = step(state, batch)
  jax.block_until_ready(metrics)
  elapsed = time.perf_counter() - start
  return {"devices": len(jax.devices()), "steps_per_s": steps / elapsed,
          "first_step_s": compile_s, "per_device_batch": 8 // len(jax.devices())}


def steps_per_s(devices: int, steps: int) -> dict:
  env = cli.cpu_environment(devices)
  proc = subprocess.run([sys.executable, __file__, "--child", "--steps", str(steps)],
                        env=env, capture_output=True, text=True, check=False)
  lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
  if proc.returncode or not lines:
    raise RuntimeError(f"{devices} devices failed:\n{proc.stderr[-3000:]}")
  return json.loads(lines[-1][len("RESULT "):])


def memory(name: str) -> dict:
  """XLA's memory analysis of one device's step at the config's per-device batch."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  from lic_jax.models import model_from_config  # pylint: disable=import-outside-toplevel
  from lic_jax.train import make_train_step  # pylint: disable=import-outside-toplevel
  from lic_jax.train_state import init_state, make_optimizer  # pylint: disable=import-outside-toplevel

  config = load_config(name)
  devices = TARGET_DEVICES[name]
  per_device = config.data.batch_size // devices
  model, optimizer = model_from_config(config), make_optimizer(config)
  state = jax.eval_shape(lambda: init_state(model, optimizer, config))
  size = config.data.crop_size
  batch = jax.ShapeDtypeStruct((per_device, size, size, 3), jnp.float32)
  analysis = make_train_step(model, optimizer, config).lower(state, batch).compile()
  analysis = analysis.memory_analysis()
  num_params = sum(x.size for x in jax.tree_util.tree_leaves(state.params))
  return {"config": name, "model": dict(config.model), "devices": devices,
          "global_batch": config.data.batch_size, "per_device_batch": per_device,
          "crop": size, "parameters": num_params,
          "argument_mib": analysis.argument_size_in_bytes / 2**20,
          "temp_mib": analysis.temp_size_in_bytes / 2**20,
          "output_mib": analysis.output_size_in_bytes / 2**20}


def markdown(rows: list[dict], mem: list[dict]) -> str:
  base = rows[0]["steps_per_s"]
  lines = [
      "# Scaling: data-parallel training on host devices",
      "",
      "`python benchmarks/scaling.py` on this machine "
      f"({platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores). "
      "bmshj2018 (N=128, M=192), global batch 8 of 128x128 crops, mesh {'data': N} "
      "with N forced host devices (`--xla_force_host_platform_device_count`). All N "
      "devices share the same 2 cores, so this measures the cost of sharding "
      "(partitioned program, all-reduce of the gradients), not a speed-up.",
      "",
      "| devices | per-device batch | steps/s | relative to 1 device | first step (compile) s |",
      "|---:|---:|---:|---:|---:|",
  ]
  for r in rows:
    lines.append(f"| {r['devices']} | {r['per_device_batch']} | {r['steps_per_s']:.3f} | "
                 f"{r['steps_per_s'] / base:.2f} | {r['first_step_s']:.1f} |")
  lines += [
      "",
      "## Paper-scale configs: per-device batch and memory",
      "",
      "One device's step compiled at the config's per-device batch; XLA:CPU memory "
      "analysis (TPU/GPU layouts differ by tens of percent; activations dominate). "
      "Arguments = parameters + Adam state + the batch.",
      "",
      "| config | model | slice devices | global / per-device batch | crop | parameters "
      "| arguments MiB | temporaries MiB |",
      "|---|---|---:|---:|---:|---:|---:|---:|",
  ]
  for m in mem:
    model = ", ".join(f"{k}={v}" for k, v in m["model"].items())
    lines.append(f"| configs/{m['config']}.py | {model} | {m['devices']} | "
                 f"{m['global_batch']} / {m['per_device_batch']} | {m['crop']} | "
                 f"{m['parameters']:,} | {m['argument_mib']:.0f} | {m['temp_mib']:.0f} |")
  return "\n".join(lines) + "\n"


def main() -> None:
  parser = argparse.ArgumentParser(description=cli.summary(__doc__))
  parser.add_argument("--devices", default="1,2,4,8")
  parser.add_argument("--steps", type=int, default=10)
  parser.add_argument("--markdown", default="")
  parser.add_argument("--json", default="")
  parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    print("RESULT " + json.dumps(_child_steps_per_s(args.steps)))
    return
  rows = []
  for n in (int(d) for d in args.devices.split(",")):
    rows.append(steps_per_s(n, args.steps))
    print(f"devices={n} steps_per_s={rows[-1]['steps_per_s']:.3f}", flush=True)
  mem = [memory(name) for name in TARGET_DEVICES
         if os.path.exists(os.path.join(ROOT, "configs", f"{name}.py"))]
  for m in mem:
    print(f"{m['config']}: per-device batch {m['per_device_batch']}, arguments "
          f"{m['argument_mib']:.0f} MiB, temporaries {m['temp_mib']:.0f} MiB")
  if args.markdown:
    with open(args.markdown, "w") as f:
      f.write(markdown(rows, mem))
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"steps": rows, "memory": mem}, f, indent=2)


if __name__ == "__main__":
  main()
