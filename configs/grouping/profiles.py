"""What every learned-grouping config of this folder shares (recipe
'grouping'; lic_jax.grouping.recipe, lic_jax.grouping.model): an encoder
and a classifier split at a block of a ResNet, a d-dimensional L2-normalized
latent quantized with a trainable step, k coding profiles, and
L = CE + lambda r^c (Eq. 12).

A training point is named by a config argument 'k,lambda,memberships[,noise]',
e.g. '10,2.0,soft', '10,2.0,hard' (the authors' detached argmax) or
'1,2.0,soft' (no grouping).
"""

import math
import os
import sys

import ml_collections

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
import base  # pylint: disable=g-import-not-at-top,wrong-import-position


# Sec. IV's Gaussian channel: eps fixed at 0.5 (its rate, Eq. 3, has no
# quantizer); the latents are coded with the uniform quantizer of the same
# distortion, s = sqrt(3) eps.
GAUSSIAN_EPS = 0.5


def parse_point(arg: str) -> dict:
  """{'groups', 'rate_lambda', 'memberships', 'noise'} of
  'k,lambda,memberships[,noise]'; ValueError naming the expected form."""
  fields = arg.split(",")
  if len(fields) not in (3, 4):
    raise ValueError(f"expected 'k,lambda,memberships[,noise]' (e.g. '10,2.0,soft'), got "
                     f"{arg!r}")
  try:
    return {"groups": int(fields[0]), "rate_lambda": float(fields[1]),
            "memberships": fields[2], "noise": fields[3] if len(fields) == 4 else "quantization"}
  except ValueError:
    raise ValueError(f"k must be an integer and lambda a number: {arg!r}") from None


def point_name(point: dict) -> str:
  """A run directory name that spells the point out."""
  return (f"k{point['groups']}-lambda{point['rate_lambda']:g}-{point['memberships']}"
          f"-{point['noise']}")


def get_grouping_config(network: dict, split: str, latent_channels: int, point: dict,
                        image_size: int, root: str,
                        adapters: bool = True) -> ml_collections.ConfigDict:
  """The classification base config with a grouped classifier on `network`
  (adapters: 1x1 convolutions between the split point's channels and h);
  the run directory is root/<point_name>."""
  c = base.classification(base.get_config())
  c.recipe = "grouping"
  c.model = {"name": "grouped_classifier", "network": network, "split": split,
             "latent_channels": latent_channels, "groups": point["groups"],
             "image_size": image_size, "step": 0.5, "memberships": point["memberships"],
             "noise": point["noise"], "adapters": adapters}
  if point["noise"] == "gaussian":
    c.model.step = math.sqrt(3.0) * GAUSSIAN_EPS
    c.freeze = ("log_step",)
  c.data.image_size = image_size
  c.rate_lambda = point["rate_lambda"]
  c.aux_learning_rate = 1e-2  # the profiles' Adam (lic_jax.grouping.recipe)
  c.workdir = os.path.join(root, point_name(point))
  return c


def init_parts(point: dict, adapters: bool = True) -> tuple[str, ...]:
  """What a point takes from the model trained without the rate: encoder,
  classifier (with their adapters) and (unless its eps is fixed) the step;
  the profile head and the profiles start fresh (k differs between points)."""
  kept = ("net", "project", "expand") if adapters else ("net",)
  return kept + (("log_step",) if point["noise"] == "quantization" else ())
