"""CBANet's training stages (Guo, Xu & Lu, Sec. III-B..D): the compression
recipe with the trainable parts each stage allows.

The model's operating level (config.model.rate, config.model.num_branches;
lic_jax.cbanet.model) names the stage, and each stage starts from the
previous stage's run directory (config.init_from):

- before them, the encoder preparation (Sec. III-B): the baseline model
  (baseline_spec: bmshj2018 or mbt2018 with its own full-width g_s) on
  R + lambda_b D at the base bitrate, recipe 'compression'. Its g_a, hyper
  networks and entropy model (CBANet-AR: with the context model and e) are
  the CBANet's base parts, frozen in every stage of this recipe;
- branch k = 1 .. K_max: rate = base, K = k. Branch k (and, from k = 2, the
  K=k gates) alone, on the K=k output (Eq. 3; the rate is fixed, so its
  term has no gradient there). With config.joint_base (not the paper's:
  no encoder preparation), branch 1 trains with the base parts, on
  R + lambda_b D: the encoder learns for the decoder it will have, which
  at our CPU budget gives about half the BD-rate cost (results/README.md);
- the BAM of bitrate j: rate = j < base, K = K_max. Its layers alone,
  on R + lambda_j D (Eq. 5).

Everything else is frozen (zero updates, no optimizer state), on top of
whatever config.freeze adds.
"""

from lic_jax.cbanet.model import CBANetModel
from lic_jax.models import build_model, model_from_config
from lic_jax.recipes.base import RecipeError, register
from lic_jax.recipes.compression import Compression


def baseline_spec(spec: dict) -> dict:
  """The model of the encoder preparation (Sec. III-B) for a CBANet model
  spec: its baseline (CBANet-HP: bmshj2018, CBANet-AR: mbt2018) with the
  same N, M and entropy model, and its own full-width g_s, whose parameter
  names are the CBANet's base parts."""
  model = build_model(**spec)
  return {"name": model.baseline,
          **{key: getattr(model, key) for key in model.baseline_attributes}}


def stage(model: CBANetModel) -> tuple[str, int]:
  """('branch', k) or ('bam', j) for the model's level."""
  rate, branches = model.level()
  return ("bam", rate) if rate != model.base_rate else ("branch", branches)


def trainable_parts(model: CBANetModel, joint_base: bool = False) -> tuple[str, ...]:
  kind, index = stage(model)
  if kind == "branch" and index == 1:  # level K=1 has no gates: x^ = x_1
    return (*(model.base_parts if joint_base else ()), "cam/branches_0")
  if kind == "branch":
    return (f"cam/branches_{index - 1}", f"cam/gates_{index}")
  return (f"bams_{index}",)


def frozen_parts(model: CBANetModel, joint_base: bool = False) -> tuple[str, ...]:
  """Every top-level part the stage does not train (CAM parts one level down)."""
  trained = trainable_parts(model, joint_base)
  cam = ([f"cam/branches_{k}" for k in range(model.max_branches)] +
         [f"cam/gates_{k}" for k in range(2, model.max_branches + 1)])
  everything = [*model.base_parts, *cam, *(f"bams_{j}" for j in range(model.num_rates - 1))]
  return tuple(p for p in everything if p not in trained)


class CBANet(Compression):
  """Compression with the stage's trainable parts (see the module docstring)."""

  name = "cbanet"
  models = ("cbanet_hp", "cbanet_ar")
  trains = "a CBANet model"

  def check_config(self, config):
    super().check_config(config)
    model = model_from_config(config)
    try:
      _, branches = model.level()
    except ValueError as e:
      raise RecipeError(f"config.model: {e}") from None
    if stage(model)[0] == "bam" and branches != model.max_branches:
      raise RecipeError(f"a BAM trains at the highest complexity level (Sec. III-B): "
                        f"config.model.num_branches must be {model.max_branches}")

  def frozen_parts(self, config):
    return (*super().frozen_parts(config),
            *frozen_parts(model_from_config(config), config.get("joint_base", False)))


register(CBANet())
