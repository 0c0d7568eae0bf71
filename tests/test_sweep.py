"""lic_jax.sweep: a lambda family trained with warm starts into one RD curve."""

import json
import os
import shutil

import jax
import numpy as np
import pytest

from conftest import load_config
from lic_jax import checkpoint as checkpoint_lib
from lic_jax import sweep as sweep_lib
from lic_jax.assets import QUICKSTART_IMAGES
from lic_jax.models import model_from_config
from lic_jax.train import _warm_start, train  # pylint: disable=protected-access
from lic_jax.train_state import init_state, make_optimizer


@pytest.fixture
def sweep_config(tiny_config, tmp_path):
  c = load_config("bmshj2018_cpu_sweep")
  c.model = tiny_config.model.to_dict()
  c.data = tiny_config.data
  c.workdir = os.path.join(os.path.dirname(tiny_config.workdir), "sweep")
  c.num_steps, c.lr_drop_steps = 6, (5,)
  c.checkpoint_every, c.log_every, c.quiet = 3, 3, True
  c.eval.directory = ""
  c.sweep.lambdas = (0.01, 0.1)
  c.sweep.finetune_steps = 3
  c.sweep.finetune_lr_drop_steps = ()
  eval_dir = tmp_path / "eval"
  eval_dir.mkdir()
  shutil.copy(os.path.join(QUICKSTART_IMAGES, "kodim23_crop256.png"), eval_dir)
  c.sweep.eval_directory = str(eval_dir)
  return c


def test_sweep_trains_warm_started_points_and_writes_one_curve(sweep_config):
  curve, _ = sweep_lib.sweep(sweep_config)
  r = curve["results"]
  assert sorted(r["lambda"]) == [0.01, 0.1]
  assert len(r["bpp"]) == len(r["psnr-rgb"]) == len(r["bpp_estimated"]) == 2
  assert r["bpp"] == sorted(r["bpp"])
  json.dumps(curve)
  anchor = sweep_lib.run_dir(sweep_config, 0.01)
  tuned = sweep_lib.run_dir(sweep_config, 0.1)
  assert checkpoint_lib.Checkpointer(anchor).latest_step() == 6
  assert checkpoint_lib.Checkpointer(tuned).latest_step() == 3
  assert checkpoint_lib.load_config(tuned).init_from == anchor
  for d in (anchor, tuned):
    assert os.path.exists(os.path.join(d, "eval_real_bitstream.json"))
  # Resuming a finished sweep trains nothing more.
  again, _ = sweep_lib.sweep(sweep_config)
  assert again["results"]["bpp"] == r["bpp"]


def test_a_sweep_from_a_trained_anchor_exports_quality_levels(sweep_config, tmp_path):
  from lic_jax import codec as codec_lib  # pylint: disable=g-import-not-at-top

  anchor = tmp_path / "anchor"
  train(point := sweep_lib.point_config(sweep_config, 0), point.workdir)
  codec_lib.Codec.from_checkpoint(point.workdir).export(str(anchor))
  sweep_config.workdir = str(tmp_path / "levels")
  sweep_config.sweep.anchor_model = str(anchor)
  sweep_config.sweep.lambdas = (0.01, 0.001, 0.1)
  curve, points = sweep_lib.sweep(sweep_config)
  # The anchor is the given model, not trained again; the others start from it.
  assert not os.path.exists(sweep_lib.run_dir(sweep_config, 0.01))
  tuned = sweep_lib.run_dir(sweep_config, 0.1)
  assert checkpoint_lib.load_config(tuned).init_from == str(anchor)
  levels_dir = str(tmp_path / "exported")
  sweep_lib.export_levels(points, levels_dir, sweep_config.sweep.eval_directory)
  levels = codec_lib.quality_levels(levels_dir)
  assert list(levels) == [1, 2, 3]
  metas = [codec_lib.level_metadata(levels[q]) for q in levels]
  assert [m["evaluation"]["bpp"] for m in metas] == curve["results"]["bpp"]
  by_lambda = {m["lambda"]: m for m in metas}
  assert "init_from" not in by_lambda[0.01]
  anchor_level = f"q{by_lambda[0.01]['quality']}"
  assert by_lambda[0.1]["init_from"] == by_lambda[0.001]["init_from"] == anchor_level
  # quality= picks a level; the anchor's level is the anchor, bit for bit.
  codec = codec_lib.Codec.load(levels_dir, quality=by_lambda[0.01]["quality"])
  original = codec_lib.Codec.load(str(anchor))
  assert codec.tables_hash == original.tables_hash
  for a, b in zip(jax.tree_util.tree_leaves(codec.impl.params),
                  jax.tree_util.tree_leaves(original.impl.params)):
    np.testing.assert_array_equal(a, b)
  with pytest.raises(ValueError, match=r"quality 4 does not exist in .*: it has 1, 2, 3"):
    codec_lib.Codec.load(levels_dir, quality=4)
  with pytest.raises(ValueError, match="is a single model"):
    codec_lib.Codec.load(str(anchor), quality=1)
  # A file names its level by its tables; a decoder finds it in the folder.
  data = codec_lib.Codec.load(levels_dir, quality=2).compress(
      np.zeros((64, 64, 3), np.uint8))
  assert codec_lib.level_for_file(data, codec_lib.level_hashes(levels_dir)) == 2
  # No bundled level wrote it.
  assert codec_lib.level_for_file(data, codec_lib.level_hashes()) is None
  listing = codec_lib.list_models(levels_dir).splitlines()
  assert "3 quality levels" in listing[0] and len(listing) == 6
  # An anchor trained at another lambda than the sweep's first is refused.
  sweep_config.sweep.lambdas = (0.02, 0.1)
  with pytest.raises(ValueError, match=r"trained at lambda=0.01, not at the first"):
    sweep_lib.sweep(sweep_config)


def test_warm_start_copies_parameters_and_refuses_other_architectures(tiny_config, tmp_path):
  tiny_config.num_steps = 2
  source = str(tmp_path / "source")
  train(tiny_config, source)
  _, params, _, _ = checkpoint_lib.load_trained(source)
  model, optimizer = model_from_config(tiny_config), make_optimizer(tiny_config)
  fresh = init_state(model, optimizer, tiny_config)
  warm = _warm_start(fresh, optimizer, source)
  assert int(warm.step) == 0
  for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(warm.params)):
    np.testing.assert_array_equal(a, b)
  # The optimizer starts afresh (Adam's moments at zero).
  assert all(float(np.abs(x).max()) == 0.0 for x in jax.tree_util.tree_leaves(warm.opt_state)
             if np.ndim(x) > 0)
  tiny_config.init_from = source
  tiny_config.model.num_latents = 8
  with pytest.raises(checkpoint_lib.IncompatibleCheckpointError, match="different architecture"):
    train(tiny_config, str(tmp_path / "other"))
