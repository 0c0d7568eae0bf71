"""What every OHM / INT config of this folder shares (recipe 'ohm'; see
lic_jax.ohm.recipe and lic_jax.ohm.model).

The quality q of each training image is drawn from p(q) = 2q and sets both
the kept maps (Eq. 5) and lambda(q) in config.lambda_range (Eq. 10); the
paper's choice for its comparisons is C_min = 0, lambda in [0.95, 0.9999]
(Sec. 4.2; the authors' scripts use 0.999 as the upper end).
"""

import os
import sys

import ml_collections

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
import base  # pylint: disable=g-import-not-at-top,wrong-import-position


def get_ohm_config(architecture: str, quantizer: str, num_maps: int, num_symbols: int,
                   workdir: str, **model) -> ml_collections.ConfigDict:
  """The base config switched to recipe 'ohm' for this autoencoder; the
  compression recipe's lambda and distortion are removed, so that setting
  them is an error."""
  c = base.get_config()
  for key in ("lmbda", "distortion"):
    del c[key]
  c.recipe = "ohm"
  c.model = {"name": "ohm_autoencoder", "architecture": architecture,
             "quantizer": quantizer, "num_maps": num_maps, "num_symbols": num_symbols,
             "min_maps": 0, **model}
  c.workdir = workdir
  c.lambda_range = (0.95, 0.999)
  # D is the MSE on [0, 1] times distortion_scale^2: 2 for the [-1, 1] of
  # the authors' MNIST code, 1 for the paper's [0, 1] (Eq. 7).
  c.distortion_scale = 1.0
  c.eval.qualities = (0.25, 0.5, 1.0)
  return c


def mnist(quantizer: str, num_maps: int) -> ml_collections.ConfigDict:
  """MNIST at CPU scale: the authors' architecture and S = 256, batch 64,
  Adam 1e-3, 8000 steps (64 epochs of the offline set's 8k training digits;
  the authors: batch 512, 1000 epochs of MNIST's 60k)."""
  c = get_ohm_config("mnist", quantizer, num_maps, 256,
                     f"runs/ohm/mnist-{quantizer}-{num_maps}", features=32)
  c.data = ml_collections.ConfigDict({"source": "mnist", "directory": "", "batch_size": 64})
  c.distortion_scale = 2.0
  c.learning_rate = 1e-3
  c.num_steps = 8000
  c.lr_drop_steps = (6800,)
  c.log_every = 200
  c.checkpoint_every = 1000
  c.eval.every = 2000
  return c


def check_num_maps(arg: str, allowed=(8, 16, 32)) -> int:
  """The C_Z of a config argument ('' = 16), one of `allowed`."""
  num_maps = int(arg or 16)
  if num_maps not in allowed:
    raise ValueError(f"C_Z = {num_maps}: the MNIST configs take one of {allowed}")
  return num_maps


# The authors train natural images normalized by ImageNet's statistics
# (std ~0.226 per channel), so their lambda range weighs an MSE ~20x that on
# [0, 1]; the natural-image configs keep that weighting (Eq. 7 on [0, 1]
# with lambda in [0.95, 0.999] would code almost nothing at low q).
IMAGENET_SCALE = 1.0 / 0.226


def natural(quantizer: str, num_maps: int, num_symbols: int, filters: tuple[int, ...],
            workdir: str) -> ml_collections.ConfigDict:
  """Natural images: random crops of ../shared/data/train, the held-out
  evaluation on Kodak's 24 images."""
  c = get_ohm_config("natural", quantizer, num_maps, num_symbols, workdir,
                     features=filters[-1], filters=filters)
  c.distortion_scale = IMAGENET_SCALE
  c.eval.directory = os.path.join(os.environ.get("LIC_JAX_DATA", os.path.join(
      os.path.dirname(__file__), "..", "..", "..", "shared", "data")), "kodak")
  c.eval.max_images = 4
  c.eval.every = 2000
  return c


def natural_cpu(quantizer: str) -> ml_collections.ConfigDict:
  """CPU scale: widths 32-64-96-128 (the paper: 60-120-240-480), C_Z = 64
  maps (480), S = 32 as the paper, without the authors' channel norms and
  residual blocks (configs/ohm/kodak_paper.py has them); 8 crops of 128x128
  per step, Adam 1e-3, 4000 steps."""
  c = natural(quantizer, 64, 32, (32, 64, 96, 128), f"runs/ohm/kodak-{quantizer}-cpu")
  c.data.crop_size = 128
  c.data.batch_size = 8
  c.learning_rate = 1e-3
  c.num_steps = 4000
  c.lr_drop_steps = (3400,)
  c.log_every = 100
  c.checkpoint_every = 500
  return c


def with_form(c: ml_collections.ConfigDict, form: str) -> ml_collections.ConfigDict:
  """The OHM config c in form 'code' ('' too: the form that trains; see
  lic_jax.ohm.model) or 'paper' (Eq. 2 as written, which collapses in
  training), its run directory named by the form."""
  form = form or "code"
  if form not in ("paper", "code"):
    raise ValueError(f"unknown OHM form {form!r}: 'paper' or 'code'")
  c.model.ohm_form = form
  c.workdir = f"{c.workdir}-{form}"
  return c
