"""The stages of a CBANet training, shared by the CPU-scale and paper-scale
configs of this folder (HP and AR), in the paper's order (Sec. III-B..D):

- 'base': the encoder preparation (Sec. III-B): the baseline model
  (bmshj2018 for CBANet-HP, mbt2018 for CBANet-AR) at the CBANet's N and M,
  with its own full-width g_s, trained at the base bitrate (recipe
  'compression'). Its g_a, hyper networks, entropy model (and, for AR, the
  context model and e) become the CBANet's, frozen from then on; its g_s is
  replaced by the CAM;
- 'branch1' .. 'branch3': the CAM branch by branch on the frozen encoder
  (Sec. III-C, Eq. 3; recipe 'cbanet');
- 'bam0' ..: one BAM per bitrate below the base (Sec. III-D, Eq. 5).

Each stage starts from the previous one's run directory (the BAMs too: each
carries the frozen BAMs before it), so the last stage's run holds the whole
model.

Bitrates are lambda * MSE(0..1) in the paper, our lambda' * MSE(0..255),
lambda' = lambda / 255^2, given per config in increasing rate, the last the
base. The paper gives only the bases (Sec. IV-A, IV-B: 2048 for CBANet-HP's
four low bitrates, 8192 for its three high ones and for CBANet-AR); the
other values are ours (see each config).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
import base  # pylint: disable=g-import-not-at-top,wrong-import-position

from lic_jax.cbanet.recipe import baseline_spec, trainable_parts  # pylint: disable=g-import-not-at-top,wrong-import-order
from lic_jax.models import build_model  # pylint: disable=g-import-not-at-top,wrong-import-order

# CBANet-HP's four low bitrates (Sec. IV-A): the base lambda 2048 is the
# paper's, the halvings below it ours.
LOW_LAMBDAS = (256, 512, 1024, 2048)
# Its three high bitrates: the base 8192 is the paper's; below it ours, the
# two octaves from 2048 to 8192 in three equal steps on a log scale, so
# that the seven bitrates are distinct (the paper's Fig. 7 has seven).
HIGH_LAMBDAS = (3251, 5161, 8192)
MAX_BRANCHES = 3


def lambdas(paper_lambdas: tuple[float, ...]) -> tuple[float, ...]:
  """Our lambda' of the paper's lambdas (MSE on 0..1 -> on 0..255)."""
  return tuple(l / 255.0**2 for l in paper_lambdas)


def stages(num_rates: int, joint_base: bool = False) -> list[str]:
  """The stages in training order (joint_base: no encoder preparation,
  branch1 first, with the encoder)."""
  return ([] if joint_base else ["base"]) + (
      [f"branch{k}" for k in range(1, MAX_BRANCHES + 1)]
      + [f"bam{j}" for j in range(num_rates - 1)])


def _level(stage: str, num_rates: int) -> dict:
  """The CBANet's operating level that names a stage after the base
  (lic_jax.cbanet.recipe)."""
  kind = stage.rstrip("0123456789")
  if kind == "branch":
    return {"rate": num_rates - 1, "num_branches": int(stage[len(kind):])}
  return {"rate": int(stage[len(kind):]), "num_branches": MAX_BRANCHES}


def get_stage_config(stage: str, root: str, model: dict, steps: dict, learning_rates: dict,
                     paper_lambdas: tuple[float, ...] = LOW_LAMBDAS, joint_base: bool = False):
  """The config of `stage` of a CBANet model spec (its name: 'cbanet_hp' or
  'cbanet_ar') with one bitrate per entry of `paper_lambdas` (the paper's
  lambda on MSE(0..1), increasing, the last the base); `steps` and
  `learning_rates` are per kind of stage ('base', 'branch', 'bam').
  joint_base (not the paper's): no encoder preparation; branch1 trains the
  base parts with branch 1, for the base's steps and learning rate."""
  num_rates = len(paper_lambdas)
  order = stages(num_rates, joint_base)
  if stage not in order:
    raise ValueError(f"unknown CBANet stage {stage!r}; stages: {', '.join(order)}")
  kind = stage.rstrip("0123456789")
  spec = {**model, "num_rates": num_rates}
  c = base.get_config()
  c.workdir = os.path.join(root, stage)
  # joint_base: the first stage (branch1) trains the encoder too, as the base would.
  trains_encoder = joint_base and stage == order[0]
  c.num_steps = steps["base" if trains_encoder else kind]
  c.learning_rate = learning_rates["base" if trains_encoder else kind]
  if kind == "base":
    c.model = baseline_spec(spec)
    c.lmbda = lambdas(paper_lambdas)[-1]
    return c
  c.recipe = "cbanet"
  c.model = {**spec, **_level(stage, num_rates)}
  c.lmbda = lambdas(paper_lambdas)[c.model.rate]
  if joint_base:
    c.joint_base = True
  if trains_encoder:
    return c
  c.init_from = os.path.join(root, order[order.index(stage) - 1])
  # What the earlier stages trained comes from the previous run; the
  # stage's own parts start from their initialization (a branch as zero, a
  # BAM as a uniform quantizer: lic_jax.cbanet.model), not from the random
  # copies the earlier runs drew. From the base run: the base parts alone
  # (its g_s is not the CAM).
  earlier = [build_model(**{**spec, **_level(s, num_rates)})
             for s in order[:order.index(stage)] if s != "base"]
  first = build_model(**spec)
  c.init_parts = tuple(dict.fromkeys(
      [*first.base_parts, *(p for m in earlier for p in trainable_parts(m, joint_base))]))
  return c
