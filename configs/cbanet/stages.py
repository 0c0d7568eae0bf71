"""The stages of a CBANet-HP training (recipe 'cbanet'), shared by the
CPU-scale and paper-scale configs of this folder.

The paper's four low bitrates, lambda * MSE(0..1) with lambda in {256,
512, 1024, 2048}, are our lambda' * MSE(0..255), lambda' = lambda / 255^2;
the base is the highest. Each stage starts from the previous one's run
directory; every BAM starts from the last branch stage.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
import base  # pylint: disable=g-import-not-at-top,wrong-import-position

# Increasing rate; the last is the base bitrate.
LAMBDAS = tuple(l / 255.0**2 for l in (256, 512, 1024, 2048))
MAX_BRANCHES = 3


def stages() -> list[str]:
  """The stages in training order."""
  return (["base"] + [f"branch{k}" for k in range(2, MAX_BRANCHES + 1)]
          + [f"bam{j}" for j in range(len(LAMBDAS) - 1)])


def get_stage_config(stage: str, root: str, model: dict, steps: dict, learning_rates: dict):
  """The config of `stage` ('base', 'branch<k>', 'bam<j>'); `steps` and
  `learning_rates` are per kind of stage ('base', 'branch', 'bam')."""
  order = stages()
  if stage not in order:
    raise ValueError(f"unknown CBANet stage {stage!r}; stages: {', '.join(order)}")
  kind = stage.rstrip("0123456789")
  c = base.get_config()
  c.recipe = "cbanet"
  c.model = {"name": "cbanet_hp", **model, "num_rates": len(LAMBDAS),
             "rate": len(LAMBDAS) - 1, "num_branches": 1}
  c.workdir = os.path.join(root, stage)
  c.lmbda = LAMBDAS[-1]
  c.num_steps = steps[kind]
  c.learning_rate = learning_rates[kind]
  if kind == "branch":
    c.model.num_branches = int(stage[len(kind):])
  elif kind == "bam":
    c.model.rate = int(stage[len(kind):])
    c.model.num_branches = MAX_BRANCHES
    c.lmbda = LAMBDAS[c.model.rate]
  previous = f"branch{MAX_BRANCHES}" if kind == "bam" else order[max(order.index(stage) - 1, 0)]
  c.init_from = "" if kind == "base" else os.path.join(root, previous)
  return c
