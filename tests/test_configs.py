"""Every shipped config builds its model and fits the mesh it asks for."""

import glob
import importlib
import os
import subprocess
import sys

import jax
import pytest

from conftest import ROOT, load_config
from lic_jax import parallel, recipes
from lic_jax.models import MODELS
from lic_jax.train import load_config as load_file

CONFIGS = sorted(os.path.relpath(p, os.path.join(ROOT, "configs"))[:-3]
                 for p in glob.glob(os.path.join(ROOT, "configs", "**", "*.py"), recursive=True)
                 if "def get_config" in open(p).read())
# Search configs (lic_jax.split search) and grouping sweeps (lic_jax.grouping
# sweep) name a training config per point.
SEARCHES = [c for c in CONFIGS if c.endswith("_search")]
SWEEPS = [c for c in CONFIGS if c.startswith("grouping/") and c.endswith("_sweep")]


@pytest.mark.parametrize("name", [c for c in CONFIGS
                                  if c != "base" and c not in SEARCHES + SWEEPS])
def test_config_builds_its_model(name):
  config = load_config(name)
  assert config.model.name in MODELS
  recipe = recipes.get(config)
  recipe.check_config(config)
  model = recipe.build_model(config)
  shapes = jax.eval_shape(lambda: recipe.init_variables(model, config, jax.random.PRNGKey(0)))
  assert jax.tree_util.tree_leaves(shapes)
  assert parallel.mesh_shape(dict(config.mesh), 16)["data"] == 16


@pytest.mark.parametrize("name", SEARCHES)
def test_search_configs_build_a_unit_at_each_of_their_split_points(name):
  from lic_jax.split import cli as split  # pylint: disable=g-import-not-at-top

  search = load_config(name)
  for split_point in search.splits:
    for unit in split.sample_units(search, split_point, 2):
      for rate_model in search.rate_models:
        config = split.point_config(search, unit, rate_model)
        recipe = recipes.get(config)
        recipe.check_config(config)
        assert config.model.split == split_point and config.model.rate_model == rate_model
        shapes = jax.eval_shape(lambda c=config, r=recipe: r.init_variables(
            r.build_model(c), c, jax.random.PRNGKey(0)))
        assert "unit" in shapes["params"]


@pytest.mark.parametrize("name", SWEEPS)
def test_sweep_configs_build_every_point(name):
  from lic_jax.grouping import cli as grouping  # pylint: disable=g-import-not-at-top

  sweep = load_config(name)
  for variant, arg in grouping.point_args(sweep):
    config = grouping.point_config(sweep, arg)
    recipe = recipes.get(config)
    recipe.check_config(config)
    assert f"{config.model.groups},{config.model.memberships}" == variant
    shapes = jax.eval_shape(lambda c=config, r=recipe: r.init_variables(
        r.build_model(c), c, jax.random.PRNGKey(0)))
    # d: 1024 on CIFAR-10 (cifar.py), 768 on CIFAR-100 (paper.py, Sec. IV-A).
    d = 768 if sweep.point_config.endswith("paper.py") else 1024
    assert shapes["params"]["profile_head"]["kernel"].shape == (d, config.model.groups)


def test_grouping_paper_configs_use_the_papers_latent_sizes_and_schedules():
  for arg, d, classes, epochs in (("cifar100,20,2.0,soft", 768, 100, 40),
                                  ("imagenet32,pretrain", 1024, 1000, 15)):
    config = load_file(os.path.join(ROOT, "configs", "grouping", "paper.py") + ":" + arg)
    model = recipes.get(config).build_model(config)
    shapes = jax.eval_shape(lambda c=config, m=model: recipes.get(c).init_variables(
        m, c, jax.random.PRNGKey(0)))
    assert shapes["params"]["profile_head"]["kernel"].shape[0] == d
    assert shapes["params"]["net"]["fc"]["kernel"].shape[-1] == classes
    assert config.data.source == "tfds" and config.learning_rate == 0.05
    steps_per_epoch = config.num_steps // epochs
    assert config.lr_drop_steps[0] % steps_per_epoch == 0


@pytest.mark.parametrize("name", ["mbt2018_mean", "mbt2018", "he2021"])
def test_minnen_configs_use_the_paper_widths(name):
  config = load_config(name)
  assert (config.model.num_filters, config.model.num_latents) == (192, 192)


def test_paper_scale_configs_split_their_batch_over_their_slice():
  for name in ("tpu/v5e16_bmshj2018", "tpu/v5e16_mbt2018", "tpu/v5e16_he2021",
               "tpu/v5e16_ms2020"):
    config = load_config(name)
    assert config.data.batch_size // 16 == 8 and config.distributed
  assert load_config("gpu/x8_bmshj2018").data.batch_size // 8 == 8
  for name in ("tpu/v5e16_mbt2018", "tpu/v5e16_he2021", "tpu/v5e16_ms2020", "ms2020"):
    assert load_config(name).model.num_latents == 320
  ms2020 = load_config("tpu/v5e16_ms2020")
  assert (ms2020.model.num_filters, ms2020.model.num_slices, ms2020.model.max_support_slices,
          ms2020.lmbda) == (192, 10, 5, 0.0483)
  # The two contexts train alike: only the model's name differs.
  he2021, mbt2018 = load_config("tpu/v5e16_he2021"), load_config("tpu/v5e16_mbt2018")
  for config in (he2021, mbt2018):
    del config["workdir"], config.model["name"]
  assert he2021.to_dict() == mbt2018.to_dict()


@pytest.mark.parametrize("args, error", [
    (["--config", "configs/nope.py"],
     "error: cannot load the config file: [Errno 2] No such file or directory"),
    (["--config", "configs/quickstart.py", "--config.model.name=foo"],
     "error: unknown model 'foo' (config.model.name); known models: bls2017, bmshj2018"),
    (["--config", "configs/quickstart.py", "--config.distortion=foo"],
     "error: unknown distortion 'foo' (config.distortion); choose one of mse, ms-ssim"),
    (["--config", "configs/quickstart.py", "--config.data.source=tfds"],
     "error: data.source='tfds' needs data.tfds_name"),
    (["--config", "configs/classify/cifar10_resnet.py", "--config.data.source=tfds"],
     "error: data.source='tfds' needs data.tfds_name"),
    (["--config", "configs/ohm/mnist_ohm.py:12"],
     "error: flag --config=configs/ohm/mnist_ohm.py:12: ValueError: C_Z = 12: the MNIST "
     "configs take one of (8, 16, 32)"),
    (["--config", "configs/cbanet/hp_cpu.py:bam9"],
     "error: flag --config=configs/cbanet/hp_cpu.py:bam9: ValueError: unknown CBANet stage"),
    (["--config", "configs/ohm/kodak_int.py", "--config.lambda_range=(0.5,1.0)"],
     "error: config.lambda_range (0.5, 1.0) must satisfy 0 < lambda_min <= lambda_max < 1"),
    (["--config", "configs/split/cifar.py:layer4[0],16,2,0,1"],
     "error: config.model: unknown split point 'layer4[0]'; this ResNet's split points are "
     "stem, layer1[0]"),
    (["--config", "configs/split/cifar.py:layer3[1],16"],
     "error: flag --config=configs/split/cifar.py:layer3[1],16: ValueError: expected "
     "'split,Cr,S,L,Q[,rate_model]'"),
    (["--config", "configs/split/cifar.py:layer3[1],16,2,0,1,l2"],
     "error: unknown config.model.rate_model 'l2'; use one of l1, entropy"),
    (["--config", "configs/grouping/cifar.py:10,2.0,soft,laplace"],
     "error: unknown config.model.noise 'laplace'; use one of quantization, gaussian"),
    (["--config", "configs/grouping/cifar.py:10,2.0"],
     "error: flag --config=configs/grouping/cifar.py:10,2.0: ValueError: expected "
     "'k,lambda,memberships[,noise]'"),
    (["--config", "configs/grouping/paper.py:mnist,pretrain"],
     "error: flag --config=configs/grouping/paper.py:mnist,pretrain: ValueError: unknown "
     "dataset 'mnist'"),
])
def test_config_mistakes_are_one_line_errors_that_leave_no_run_directory(args, error, tmp_path):
  workdir = tmp_path / "run"
  result = subprocess.run([sys.executable, "-m", "lic_jax", "train", *args,
                           f"--workdir={workdir}"], cwd=ROOT, capture_output=True, text=True)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1].startswith(error), result.stderr[-1000:]
  assert "Traceback" not in result.stderr and not workdir.exists()


@pytest.mark.parametrize("module, args, defaults", [
    ("baselines", ["--help"], ["(default 4:2:0)", "1..100 (default 5,"]),
    ("plot", ["--help"], ["(default psnr-rgb)", "(default: none)", "(default: the largest rate)"]),
    ("eval", ["--help"], ["(default: all)", "(default: the bundled model)"]),
    ("bd", ["--help"], ["(default psnr-rgb)", "default cubic"]),
    ("codec", ["decompress", "--help"], ["(default 67108864,"]),
])
def test_command_line_help_states_the_defaults(module, args, defaults, capsys):
  main = importlib.import_module(f"lic_jax.commands.{module}").main
  with pytest.raises(SystemExit):
    main(args)
  text = " ".join(capsys.readouterr().out.split())
  for default in defaults:
    assert default in text, (module, default)
