r"""What a model costs to store and run: the parameters a decoder needs, its
multiply-adds per pixel layer by layer, and its measured latency; and what
a config costs to train.

  python -m lic_jax complexity --help   (lic_jax.commands.complexity)

A model names the parameter parts its decoder needs (`decoder_parts`) and
the networks it runs (`decode(y_hat, z_hat)`: reconstruction and scales);
models with levels (CBANet: bitrate `rate`, complexity `num_branches`) take
them as keyword arguments of both. Everything is counted from the
parameter tree and from the traced program itself:

- multiply-adds: every convolution (k_h * k_w * C_in / groups per output
  element) and matrix product (the contracted size per output element) of
  the decoder's jaxpr, attributed to the module that ran it. Our transposed
  convolutions run in sub-pixel form with exactly their own taps, so the
  count is the nominal k^2 C_in C_out per input pixel (tested), and the
  total is checked against XLA's own cost analysis (2 flops per
  multiply-add plus the elementwise work);
- latency: the jitted decoder networks (entropy decoding apart), median
  wall time of `repeats` runs after a warm-up;
- training (--training, any recipe): XLA's flop count of one compiled
  training step at the config's batch (forward, backward and optimizer
  update; no data read: the recipe's example_batch), times its steps, to
  size the accelerator time a config needs.
"""

import collections
import math
import time

import jax
import jax.extend as jex
import jax.numpy as jnp
import numpy as np

from lic_jax import parts as parts_lib


def parameter_count(params, parts: tuple[str, ...] | None = None) -> int:
  """The number of parameters (of the parts, if given: path prefixes)."""
  total = 0
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    if parts is None or parts_lib.in_any(parts_lib.path_name(path), parts):
      total += int(np.prod(np.shape(leaf)))
  return total


def decoder_parameters(model, params, **level) -> int:
  """Parameters a decoder of `model` needs (at `level`, for models with
  levels: CBANet's rate=j, num_branches=K)."""
  parts = model.decoder_parts(**level)
  parts_lib.check_parts(parts, parts_lib.paths(params), f"{type(model).__name__} decoder parts")
  return parameter_count(params, parts)


def _eqn_macs(eqn) -> int:
  """Multiply-adds of one convolution or matrix product (0 for anything else)."""
  out = math.prod(eqn.outvars[0].aval.shape)
  if eqn.primitive.name == "conv_general_dilated":
    kernel = eqn.invars[1].aval.shape
    spec = eqn.params["dimension_numbers"].rhs_spec  # (out, in, spatial...)
    return out * kernel[spec[1]] * math.prod(kernel[d] for d in spec[2:])
  if eqn.primitive.name == "dot_general":
    (contracted, _), _ = eqn.params["dimension_numbers"]
    lhs = eqn.invars[0].aval.shape
    return out * math.prod(lhs[d] for d in contracted)
  return 0


def _walk(jaxpr, counts: collections.Counter, outer: str = "(top)") -> None:
  """Counts the jaxpr's products by module path; `outer`: the path of the
  equation whose sub-program this is (a custom_vjp's, for one: its own
  equations carry no module path)."""
  for eqn in jaxpr.eqns:
    # The module path, without the method's entry ('Model.decode') and an
    # op's own name ('bhwi,ito->bhwto') that a name stack can carry.
    scope = str(eqn.source_info.name_stack).split("/")
    path = "/".join(s for s in scope if "->" not in s and "." not in s) or outer
    macs = _eqn_macs(eqn)
    if macs:
      counts[path] += macs
    for param in eqn.params.values():
      for sub in (param if isinstance(param, (list, tuple)) else (param,)):
        if isinstance(sub, jex.core.ClosedJaxpr):
          _walk(sub.jaxpr, counts, path)
        elif isinstance(sub, jex.core.Jaxpr):
          _walk(sub, counts, path)


def macs(fn, *args) -> dict[str, int]:
  """{module path: multiply-adds} of fn(*args), from its jaxpr."""
  counts: collections.Counter = collections.Counter()
  _walk(jax.make_jaxpr(fn)(*args).jaxpr, counts)
  return dict(counts)


def xla_flops(fn, *args) -> float:
  """XLA's cost analysis of the compiled fn(*args): its flop count."""
  analysis = jax.jit(fn).lower(*args).compile().cost_analysis()
  if isinstance(analysis, list):  # one entry per computation on older jax
    analysis = analysis[0]
  return float(analysis["flops"])


def latent_inputs(model, height: int, width: int) -> tuple[jax.Array, jax.Array]:
  """Zero y^ and z^ of the decoder of a height x width image."""
  y = jnp.zeros((1, height // 16, width // 16, model.num_latents))
  z = jnp.zeros((1, height // 64, width // 64, model.num_filters))
  return y, z


def decoder_fn(model, **level):
  """(params, y^, z^) -> (x^, scales): the decoder's networks at `level`.
  The parameters are an argument, not constants XLA could fold (two
  branches of equal width and equal values would be computed once)."""
  return lambda params, y, z: model.apply({"params": params}, y, z, **level,
                                          method=model.decode)


def decoder_macs(model, params, height: int, width: int, **level) -> dict[str, int]:
  """{module path: multiply-adds} of decoding a height x width image."""
  return macs(decoder_fn(model, **level), params, *latent_inputs(model, height, width))


def decoder_flops(model, params, height: int, width: int, **level) -> float:
  """XLA's flop count of decoding a height x width image."""
  return xla_flops(decoder_fn(model, **level), params, *latent_inputs(model, height, width))


def decoder_latency(model, params, height: int, width: int, repeats: int = 5,
                    **level) -> float:
  """Median seconds of the jitted decoder networks (entropy decoding apart)."""
  run = jax.jit(decoder_fn(model, **level))
  inputs = (params, *latent_inputs(model, height, width))
  jax.block_until_ready(run(*inputs))
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(run(*inputs))
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def levels(model) -> list[dict]:
  """The levels a model decodes at: [{}] for most, every (rate, K) for CBANet."""
  if not hasattr(model, "num_rates"):
    return [{}]
  return [{"rate": j, "num_branches": k} for j in range(model.num_rates)
          for k in range(1, model.max_branches + 1)]


def report(model, params, height: int, width: int, repeats: int = 5) -> list[dict]:
  """Per level: decoder parameters, MACs per pixel, XLA's flops per pixel, latency."""
  rows = []
  pixels = height * width
  for level in levels(model):
    counted = sum(decoder_macs(model, params, height, width, **level).values())
    rows.append({**level,
                 "decoder_parameters": decoder_parameters(model, params, **level),
                 "macs_per_pixel": counted / pixels,
                 "xla_flops_per_pixel": decoder_flops(model, params, height, width,
                                                      **level) / pixels,
                 "latency_s": decoder_latency(model, params, height, width, repeats, **level)})
  return rows


def training_cost(config) -> dict:
  """{'flops_per_step', 'steps', 'flops'}: XLA's flop count of one training
  step of `config` at its global batch, and over config.num_steps."""
  from lic_jax import recipes  # pylint: disable=g-import-not-at-top
  from lic_jax import train  # pylint: disable=g-import-not-at-top
  from lic_jax import train_state  # pylint: disable=g-import-not-at-top

  recipe = recipes.get(config)
  model = recipe.build_model(config)
  optimizer = train_state.make_optimizer(config)
  state = jax.eval_shape(lambda: train_state.init_state(model, optimizer, config))
  step = train.make_train_step(model, optimizer, config)
  per_step = xla_flops(step, state, recipe.example_batch(config))
  return {"flops_per_step": per_step, "steps": int(config.num_steps),
          "flops": per_step * int(config.num_steps)}


# What a user passed wrong: one line, no stack trace.
USER_ERRORS = (FileNotFoundError, ValueError)


def main(argv):
  """The command (lic_jax.commands.complexity), its flags parsed."""
  from absl import flags  # pylint: disable=g-import-not-at-top

  from lic_jax import recipes  # pylint: disable=g-import-not-at-top

  del argv
  config = flags.FLAGS.config
  if flags.FLAGS.training:
    cost = training_cost(config)
    print(f"{config.model.name} training at batch {config.data.batch_size}: "
          f"{cost['flops_per_step'] / 1e9:,.1f} GFLOPs per step x {cost['steps']:,} steps = "
          f"{cost['flops'] / 1e15:,.2f} PFLOPs")
    return
  model = recipes.get(config).build_model(config)
  shapes = jax.eval_shape(lambda: recipes.get(config).init_variables(
      model, config, jax.random.PRNGKey(0)))["params"]
  # Random values: timings and counts do not depend on them.
  leaves, tree = jax.tree_util.tree_flatten(shapes)
  keys = jax.random.split(jax.random.PRNGKey(0), len(leaves))
  params = jax.tree_util.tree_unflatten(tree, [
      0.01 * jax.random.normal(k, s.shape, s.dtype) for k, s in zip(keys, leaves)])
  height, width = flags.FLAGS.height, flags.FLAGS.width
  print(f"{config.model.to_dict()}, {height}x{width}, decoder networks (no entropy decoding)")
  print(f"{'level':<14}{'parameters':>12}{'MACs/pixel':>12}{'XLA flops/px':>14}{'latency':>10}")
  rows = report(model, params, height, width, flags.FLAGS.repeats)
  for row in rows:
    level = (f"j={row['rate']} K={row['num_branches']}" if "rate" in row else "-")
    print(f"{level:<14}{row['decoder_parameters']:>12,}{row['macs_per_pixel']:>12,.0f}"
          f"{row['xla_flops_per_pixel']:>14,.0f}{row['latency_s'] * 1e3:>8.1f}ms")
  if flags.FLAGS.json:
    from lic_jax import eval as eval_lib  # pylint: disable=g-import-not-at-top
    eval_lib.write_json(flags.FLAGS.json, {"model": config.model.to_dict(), "height": height,
                                           "width": width, "levels": rows})


if __name__ == "__main__":
  from lic_jax import cli  # pylint: disable=g-import-not-at-top

  # The command's flags and usage are its front's.
  cli.run_as_main("lic_jax.commands.complexity")
