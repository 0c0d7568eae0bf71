r"""Times every exact form of the transposed convolution on XLA:CPU.

  python benchmarks/conv_forms.py [--json results/conv_forms.json]

Two parts, both jitted, medians after a warm-up call:

1. Layers: forward, and forward + gradient (with respect to input and
   kernel, through a loss that is not linear in the output), of each form on
   the shapes of our transforms at N = 64, 128, 192 (M = 192, 192, 320),
   batch 8 of 128x128 crops.
   Transposed convolutions (g_s: the wide layers M -> N, N -> N and the
   3-channel image layer): `lax` (jax.lax.conv_transpose), `phase`,
   `subpixel`, `scatter` (its plain autodiff) and `narrow` (scatter
   evaluated, sub-pixel differentiated: what ConvTranspose uses below 16
   channels).
   Strided convolutions (g_a: 3 -> N, N -> N, N -> M, stride 2), whose
   input gradient is a transposed convolution: `lax` (autodiff of
   lax.conv_general_dilated) and `strided_conv` (the same forward, the input
   gradient in the phase form: what Conv uses for stride > 1).
2. Train steps: the whole jitted train step (lic_jax.train.make_train_step)
   of configs/quickstart.py (4x128x128) and configs/bmshj2018.py (N=128,
   8x256x256) with the image layer computed by each narrow candidate, the
   candidates taking turns step by step so that the machine's drift slows
   them alike. Isolated layer timings did not rank the candidates as the
   whole step does (the scatter form's hand-written transpose won alone
   and lost in the step), so the step decides.

A form whose single warm call takes longer than --slow-s is timed once.
"""

import argparse
import functools
import importlib.util
import json
import os
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from lic_jax import cli
from lic_jax.layers import conv
from lic_jax.models import model_from_config
from lic_jax.train import make_train_step
from lic_jax.train_state import init_state, make_optimizer


def _lax(x, kernel, stride):
  pad = conv.conv_transpose_padding(kernel.shape[0], stride)
  return jax.lax.conv_transpose(x, kernel, (stride, stride), (pad, pad),
                                dimension_numbers=("NHWC", "HWIO", "NHWC"))


TRANSPOSED_FORMS = {
    "lax": _lax,
    "phase": conv.phase_conv_transpose,
    "subpixel": conv.subpixel_conv_transpose,
    "scatter": conv.scatter_conv_transpose,
    "narrow": conv.narrow_conv_transpose,
}
STRIDED_FORMS = {
    "lax": lambda x, kernel, stride: conv._conv(x, kernel, stride),  # noqa: E731
    "strided_conv": conv.strided_conv,
}
# (N, M) of our models: the quickstart-to-mbt2018 range.
WIDTHS = ((64, 192), (128, 192), (192, 320))
# Candidates for the image layer inside the train step.
STEP_FORMS = ("scatter", "subpixel", "phase", "narrow")


def _median_ms(fn, *args, repeats: int, slow_s: float) -> float:
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
    if times[-1] > slow_s:
      break
  return 1e3 * statistics.median(times)


def transposed_shapes(batch: int, size: int):
  """(name, input shape, output channels) of g_s's transposed convolutions."""
  for n, m in WIDTHS:
    side = size // 16
    yield f"g_s N={n} M={m}: {m}->{n} at {side}", (batch, side, side, m), n
    for _ in range(2):
      side *= 2
      yield f"g_s N={n} M={m}: {n}->{n} at {side}", (batch, side, side, n), n
    side *= 2
    yield f"g_s N={n} M={m}: {n}->3 at {side} (image)", (batch, side, side, n), 3


def strided_shapes(batch: int, size: int):
  """(name, input shape, output channels) of g_a's strided convolutions."""
  for n, m in WIDTHS:
    yield f"g_a N={n} M={m}: 3->{n} at {size}", (batch, size, size, 3), n
    side = size // 2
    for _ in range(2):
      yield f"g_a N={n} M={m}: {n}->{n} at {side}", (batch, side, side, n), n
      side //= 2
    yield f"g_a N={n} M={m}: {n}->{m} at {side}", (batch, side, side, n), m


def time_layers(shapes, forms: dict, scale: float, repeats: int, slow_s: float) -> list[dict]:
  """Each form on each shape; `scale`: output side / input side."""
  rng = np.random.default_rng(0)
  rows = []
  for name, shape, c_out in shapes:
    batch, height, width, _ = shape
    x = jnp.asarray(rng.normal(size=shape), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(5, 5, shape[-1], c_out)) * 0.05, jnp.float32)
    target = jnp.asarray(rng.random((batch, int(scale * height), int(scale * width), c_out)),
                         jnp.float32)
    row = {"layer": name, "input": list(shape), "output_channels": c_out}
    for form_name, form in forms.items():
      forward = jax.jit(functools.partial(form, stride=2))
      loss = lambda x, k, form=form: jnp.mean((jnp.tanh(form(x, k, 2)) - target) ** 2)  # noqa: E731
      gradient = jax.jit(jax.value_and_grad(loss, (0, 1)))
      row[form_name] = {
          "forward_ms": _median_ms(forward, x, kernel, repeats=repeats, slow_s=slow_s),
          "forward_gradient_ms": _median_ms(gradient, x, kernel, repeats=repeats,
                                            slow_s=slow_s)}
      print(f"{name:32s} {form_name:12s} forward {row[form_name]['forward_ms']:9.1f} ms  "
            f"forward+gradient {row[form_name]['forward_gradient_ms']:9.1f} ms", flush=True)
    rows.append(row)
  return rows


def _config(name: str):
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs", name)
  spec = importlib.util.spec_from_file_location("conv_forms_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def time_train_steps(config_name: str, batch: int, size: int, rounds: int) -> dict:
  """Median train step (ms) with the image layer computed by each candidate.
  ConvTranspose calls conv.narrow_conv_transpose by module lookup, so each
  candidate is swapped in while its step is traced."""
  config = _config(config_name)
  model = model_from_config(config)
  optimizer = make_optimizer(config)
  x = np.random.default_rng(0).random((batch, size, size, 3), dtype=np.float32)
  chosen = conv.narrow_conv_transpose
  runs = {}
  try:
    for name in STEP_FORMS:
      conv.narrow_conv_transpose = TRANSPOSED_FORMS[name]
      step = make_train_step(model, optimizer, config)
      state, metrics = step(init_state(model, optimizer, config), x)
      jax.block_until_ready(metrics)
      runs[name] = [step, state, []]
  finally:
    conv.narrow_conv_transpose = chosen
  for _ in range(rounds):
    for run in runs.values():
      start = time.perf_counter()
      run[1], metrics = run[0](run[1], x)
      jax.block_until_ready(metrics)
      run[2].append(time.perf_counter() - start)
  result = {name: 1e3 * statistics.median(run[2]) for name, run in runs.items()}
  print(f"train step {config_name} {batch}x{size}x{size}: " +
        "  ".join(f"{name} {ms:.1f} ms" for name, ms in result.items()), flush=True)
  return result


def main():
  parser = argparse.ArgumentParser(description=cli.summary(__doc__))
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--size", type=int, default=128)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--slow-s", type=float, default=5.0)
  parser.add_argument("--rounds", type=int, default=20, help="train steps per candidate")
  parser.add_argument("--json", default="", help="also write the figures here")
  args = parser.parse_args()
  record = {"machine": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "jax": jax.__version__,
            "transposed_layers": time_layers(transposed_shapes(args.batch, args.size),
                                             TRANSPOSED_FORMS, 2, args.repeats, args.slow_s),
            "strided_layers": time_layers(strided_shapes(args.batch, args.size),
                                          STRIDED_FORMS, 0.5, args.repeats, args.slow_s),
            "train_steps": {
                "quickstart 4x128x128": time_train_steps("quickstart.py", 4, 128, args.rounds),
                "bmshj2018 N=128 8x256x256": time_train_steps(
                    "bmshj2018.py", 8, 256, max(3, args.rounds // 4))}}
  if args.json:
    with open(args.json, "w") as f:
      json.dump(record, f, indent=2)


if __name__ == "__main__":
  main()
