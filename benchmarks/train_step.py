r"""Times one bmshj2018 (N=128, M=192) training step on 8x256x256 crops.

  python benchmarks/train_step.py [--steps 10] [--json results/train_step.json]

Runs lic_jax's real jitted train step (lic_jax.train.make_train_step: forward
with uniform noise, R + lambda*MSE, aux loss, gradients, clipping, Adam) and,
when compressai is importable, CompressAI's ScaleHyperprior(128, 192) doing
the same work (forward, loss, backward, Adam on the model, Adam on the aux
loss) on the same batch size in the same process. Reports medians over
--steps steps after --warmup steps (jit compilation excluded, reported apart).
The last line is

  lic_jax_train_step_s=<s> [compressai_train_step_s=<s> ratio=<ours/theirs>]
"""

import argparse
import importlib.util
import json
import os
import platform
import statistics
import time

import jax
import numpy as np

from lic_jax import cli
from lic_jax.models import model_from_config
from lic_jax.train import make_train_step
from lic_jax.train_state import init_state, make_optimizer

LAMBDA = 0.0130


def _config(batch: int, size: int):
  """configs/bmshj2018.py with the benchmark's batch shape."""
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs",
                      "bmshj2018.py")
  spec = importlib.util.spec_from_file_location("bmshj2018_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  config.data.batch_size, config.data.crop_size = batch, size
  config.lmbda = LAMBDA
  return config


def time_lic_jax(batch: int, size: int, steps: int, warmup: int) -> tuple[float, float]:
  config = _config(batch, size)
  model = model_from_config(config)
  optimizer = make_optimizer(config)
  state = init_state(model, optimizer, config)
  train_step = make_train_step(model, optimizer, config)
  x = np.random.default_rng(0).random((batch, size, size, 3), dtype=np.float32)
  start = time.perf_counter()
  state, metrics = train_step(state, x)
  jax.block_until_ready(metrics)
  compile_s = time.perf_counter() - start
  times = []
  for i in range(warmup + steps):
    start = time.perf_counter()
    state, metrics = train_step(state, x)
    jax.block_until_ready(metrics)
    if i >= warmup:
      times.append(time.perf_counter() - start)
  return statistics.median(times), compile_s


def time_compressai(batch: int, size: int, steps: int, warmup: int) -> float | None:
  try:
    import torch  # pylint: disable=g-import-not-at-top
    from compressai.models import ScaleHyperprior  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  torch.manual_seed(0)
  net = ScaleHyperprior(128, 192).train()
  main_params = [p for n, p in net.named_parameters() if not n.endswith(".quantiles")]
  aux_params = [p for n, p in net.named_parameters() if n.endswith(".quantiles")]
  opt = torch.optim.Adam(main_params, lr=1e-4)
  aux_opt = torch.optim.Adam(aux_params, lr=1e-3)
  x = torch.rand(batch, 3, size, size)
  num_pixels = batch * size * size
  times = []
  for i in range(warmup + steps):
    start = time.perf_counter()
    opt.zero_grad()
    aux_opt.zero_grad()
    out = net(x)
    bpp = sum(torch.log(l).sum() for l in out["likelihoods"].values()) / (
        -np.log(2) * num_pixels)
    loss = bpp + LAMBDA * 255**2 * torch.nn.functional.mse_loss(out["x_hat"], x)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(main_params, 1.0)
    opt.step()
    aux = net.aux_loss()
    aux.backward()
    aux_opt.step()
    if i >= warmup:
      times.append(time.perf_counter() - start)
  return statistics.median(times)


def main():
  parser = argparse.ArgumentParser(description=cli.summary(__doc__))
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--size", type=int, default=256)
  parser.add_argument("--steps", type=int, default=10)
  parser.add_argument("--warmup", type=int, default=2)
  parser.add_argument("--json", default="", help="also write the figures here")
  args = parser.parse_args()

  ours, compile_s = time_lic_jax(args.batch, args.size, args.steps, args.warmup)
  print(f"lic_jax: median {ours:.3f} s/step over {args.steps} steps "
        f"(first call incl. jit compile {compile_s:.1f} s)")
  theirs = time_compressai(args.batch, args.size, args.steps, args.warmup)
  line = f"lic_jax_train_step_s={ours:.3f}"
  record = {"model": "bmshj2018 N=128 M=192", "batch": args.batch, "size": args.size,
            "steps": args.steps, "lic_jax_train_step_s": ours,
            "lic_jax_compile_s": compile_s, "machine": platform.processor() or
            platform.machine(), "cpu_count": os.cpu_count(),
            "jax": jax.__version__}
  if theirs is None:
    print("compressai is not importable: no comparison")
  else:
    import compressai  # pylint: disable=g-import-not-at-top
    import torch  # pylint: disable=g-import-not-at-top
    print(f"compressai {compressai.__version__} (torch {torch.__version__}): "
          f"median {theirs:.3f} s/step")
    line += f" compressai_train_step_s={theirs:.3f} ratio={ours / theirs:.3f}"
    record.update(compressai_train_step_s=theirs, ratio=ours / theirs,
                  compressai=compressai.__version__, torch=torch.__version__)
  if args.json:
    with open(args.json, "w") as f:
      json.dump(record, f, indent=2)
  print(line)


if __name__ == "__main__":
  main()
