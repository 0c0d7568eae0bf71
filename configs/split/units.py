"""What every split-computing config of this folder shares (recipe 'split';
lic_jax.split.recipe, lic_jax.split.model): a bottleneck unit at a split
point of a frozen, pretrained classifier, L = Lr + alpha Lt (Eq. 1).

A unit is named by a config argument 'split,Cr,S,L,Q[,rate_model]':
alpha = 10^L, e.g. 'layer3[1],16,2,0.5,4' or 'layer3[1],16,2,0.5,4,entropy'.
"""

import math
import os
import sys

import ml_collections

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
import base  # pylint: disable=g-import-not-at-top,wrong-import-position


def parse_unit(arg: str) -> dict:
  """{'split', 'channels', 'stride', 'log_alpha', 'step', 'rate_model'} of
  'split,Cr,S,L,Q[,rate_model]'; ValueError naming the expected form."""
  fields = arg.split(",")
  if len(fields) not in (5, 6):
    raise ValueError(f"expected 'split,Cr,S,L,Q[,rate_model]' (e.g. "
                     f"'layer3[1],16,2,0.5,4'), got {arg!r}")
  try:
    unit = {"split": fields[0], "channels": int(fields[1]), "stride": int(fields[2]),
            "log_alpha": float(fields[3]), "step": float(fields[4]),
            "rate_model": fields[5] if len(fields) == 6 else "l1"}
  except ValueError:
    raise ValueError(f"Cr and S must be integers, L and Q numbers: {arg!r}") from None
  return unit


def unit_name(unit: dict) -> str:
  """A run directory name that spells the unit out."""
  split = unit["split"].replace("[", "_").replace("]", "")
  return (f"{split}-c{unit['channels']}-s{unit['stride']}-L{unit['log_alpha']:.3f}"
          f"-q{unit['step']:.3f}-{unit['rate_model']}")


def get_split_config(network: dict, unit: dict, root: str) -> ml_collections.ConfigDict:
  """The classification base config with this unit on `network`; the run
  directory is root/<unit_name>."""
  c = base.classification(base.get_config())
  c.recipe = "split"
  c.model = {"name": "split_classifier", "network": network, "split": unit["split"],
             "channels": unit["channels"], "stride": unit["stride"], "step": unit["step"],
             "rate_model": unit["rate_model"]}
  c.alpha = math.pow(10.0, unit["log_alpha"])
  c.workdir = os.path.join(root, unit_name(unit))
  c.init_parts = ("backbone=",)
  # The unit alone trains: Adam, as for the paper's few epochs.
  c.optimizer = "adam"
  c.nesterov = False
  c.weight_decay = 0.0
  return c
