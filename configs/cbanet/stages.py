"""The stages of a CBANet training (recipe 'cbanet'), shared by the
CPU-scale and paper-scale configs of this folder (HP and AR).

The paper's four low bitrates, lambda * MSE(0..1) with lambda in {256,
512, 1024, 2048}, are our lambda' * MSE(0..255), lambda' = lambda / 255^2;
the base is the highest. A config may support the highest few of them. Each stage starts from the previous one's run
directory (the BAMs too: each carries the frozen BAMs before it), so the
last stage's run holds the whole model.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
import base  # pylint: disable=g-import-not-at-top,wrong-import-position

from lic_jax.cbanet.recipe import trainable_parts  # pylint: disable=g-import-not-at-top,wrong-import-order
from lic_jax.models import build_model  # pylint: disable=g-import-not-at-top,wrong-import-order

# Increasing rate; the last is the base bitrate.
LAMBDAS = tuple(l / 255.0**2 for l in (256, 512, 1024, 2048))
MAX_BRANCHES = 3


def stages(num_rates: int = len(LAMBDAS)) -> list[str]:
  """The stages in training order."""
  return (["base"] + [f"branch{k}" for k in range(2, MAX_BRANCHES + 1)]
          + [f"bam{j}" for j in range(num_rates - 1)])


def _level(stage: str, num_rates: int) -> dict:
  """The model's operating level that names a stage (lic_jax.cbanet.recipe)."""
  kind = stage.rstrip("0123456789")
  base_rate = num_rates - 1
  if kind == "branch":
    return {"rate": base_rate, "num_branches": int(stage[len(kind):])}
  if kind == "bam":
    return {"rate": int(stage[len(kind):]), "num_branches": MAX_BRANCHES}
  return {"rate": base_rate, "num_branches": 1}


def get_stage_config(stage: str, root: str, model: dict, steps: dict, learning_rates: dict,
                     num_rates: int = len(LAMBDAS)):
  """The config of `stage` ('base', 'branch<k>', 'bam<j>') of a model spec
  (its name: 'cbanet_hp' or 'cbanet_ar') with the highest `num_rates` of
  LAMBDAS; `steps` and `learning_rates` are per kind of stage ('base',
  'branch', 'bam')."""
  order = stages(num_rates)
  if stage not in order:
    raise ValueError(f"unknown CBANet stage {stage!r}; stages: {', '.join(order)}")
  kind = stage.rstrip("0123456789")
  c = base.get_config()
  c.recipe = "cbanet"
  c.model = {**model, "num_rates": num_rates, **_level(stage, num_rates)}
  c.workdir = os.path.join(root, stage)
  c.lmbda = LAMBDAS[len(LAMBDAS) - num_rates + c.model.rate]
  c.num_steps = steps[kind]
  c.learning_rate = learning_rates[kind]
  if kind != "base":
    c.init_from = os.path.join(root, order[order.index(stage) - 1])
    # What the earlier stages trained comes from the previous run; the
    # stage's own parts start from their initialization (a new branch as
    # zero, a BAM as a uniform quantizer: lic_jax.cbanet.model), not from
    # the random copies the base run drew.
    earlier = [build_model(**{**c.model.to_dict(), **_level(s, num_rates)})
               for s in order[:order.index(stage)]]
    c.init_parts = tuple(dict.fromkeys(p for m in earlier for p in trainable_parts(m)))
  return c
