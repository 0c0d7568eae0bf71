"""ResNets: head + tail == the whole network at every split point, the
torchvision layout and weight conversion, named errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lic_jax.models import build_model, resnet_torchvision


def _init(model, size, channels=3):
  x = jax.random.uniform(jax.random.PRNGKey(1), (2, size, size, channels))
  variables = model.init(jax.random.PRNGKey(0), x, training=False)
  # Running averages other than (0, 1), so that evaluation really uses them.
  keys = iter(jax.random.split(jax.random.PRNGKey(2), 1000))
  variables = dict(variables, batch_stats=jax.tree_util.tree_map(
      lambda a: a + 0.1 * jax.random.uniform(next(keys), a.shape), variables["batch_stats"]))
  return variables, x


@pytest.mark.parametrize("name,kwargs,size", [
    ("resnet18", {"num_classes": 10}, 64),
    ("cifar_resnet", {"depth": 14, "width": 8}, 32),
    ("group_net", {"latent_channels": 12, "num_classes": 10}, 32),
])
def test_head_then_tail_is_the_whole_network_at_every_split(name, kwargs, size):
  model = build_model(name, **kwargs)
  variables, x = _init(model, size)
  whole = jax.jit(lambda v, x: model.apply(v, x))(variables, x)
  assert whole.shape == (2, kwargs.get("num_classes", 10))
  names = model.split_names
  assert names[0] == "stem" and names[-1] == f"layer{len(model.stage_sizes)}[{model.stage_sizes[-1] - 1}]"
  for split in names:
    head = jax.jit(lambda v, x, s=split: model.apply(v, x, s, method=model.head))
    tail = jax.jit(lambda v, f, s=split: model.apply(v, f, s, method=model.tail))
    features = head(variables, x)
    assert features.ndim == 4 and features.shape[0] == 2
    np.testing.assert_allclose(tail(variables, features), whole, atol=1e-6, rtol=1e-6,
                               err_msg=split)


def test_resnet18_split_names_and_feature_shapes():
  model = build_model("resnet18")
  assert model.split_names == ["stem"] + [f"layer{s}[{b}]" for s in range(1, 5)
                                          for b in range(2)]
  shapes = {s: jax.eval_shape(lambda s=s: model.init_with_output(
      jax.random.PRNGKey(0), jnp.zeros((1, 224, 224, 3)), s, method=model.head)[0]).shape
            for s in ("stem", "layer1[1]", "layer2[0]", "layer3[1]", "layer4[1]")}
  assert shapes == {"stem": (1, 56, 56, 64), "layer1[1]": (1, 56, 56, 64),
                    "layer2[0]": (1, 28, 28, 128), "layer3[1]": (1, 14, 14, 256),
                    "layer4[1]": (1, 7, 7, 512)}


@pytest.mark.parametrize("name,count", [("resnet18", 11_689_512), ("resnet34", 21_797_672),
                                        ("resnet50", 25_557_032)])
def test_parameter_counts_equal_torchvisions(name, count):
  model = build_model(name)
  shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0),
                                             jnp.zeros((1, 64, 64, 3))))
  assert sum(np.prod(a.shape) for a in jax.tree_util.tree_leaves(shapes["params"])) == count


def test_cifar_resnet20_has_the_papers_size():
  model = build_model("cifar_resnet", depth=20, width=16)
  shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0),
                                             jnp.zeros((1, 32, 32, 3))))
  # He et al. (2016), Table 6: 0.27M parameters (ours: 1x1 projection shortcuts).
  count = sum(np.prod(a.shape) for a in jax.tree_util.tree_leaves(shapes["params"]))
  assert 270_000 <= count <= 280_000, count
  assert len(model.split_names) == 10


@pytest.mark.parametrize("h", [12, 16])
def test_group_net_is_the_grouping_papers_fig2_network(h):
  """Chamain, Qi & Ding, Fig. 2, with the authors' code's blocks
  (models/groupNet.py): the latent is 8 x 8 x h (d = 768 at h = 12, 1024 at
  h = 16, Sec. IV-A) without a final ReLU, the classifier 128 then 256 wide."""
  model = build_model("group_net", latent_channels=h, num_classes=100)
  assert model.split_names == ["stem", "layer1[0]", "layer1[1]", "layer2[0]", "layer2[1]",
                               "layer3[0]", "conv", "layer3[1]", "layer4[0]", "layer4[1]"]
  variables, x = _init(model, 32)
  shapes = {s: model.apply(variables, x, s, method=model.head).shape
            for s in ("layer2[1]", "layer3[0]", "conv", "layer4[1]")}
  assert shapes == {"layer2[1]": (2, 16, 16, 16), "layer3[0]": (2, 8, 8, h),
                    "conv": (2, 8, 8, 128), "layer4[1]": (2, 4, 4, 256)}
  latent = model.apply(variables, x, "layer3[0]", method=model.head)
  assert np.mean(latent < 0) > 0.2  # no ReLU on the latent
  assert np.min(model.apply(variables, x, "layer2[1]", method=model.head)) >= 0
  # The parameters block by block: 3x3 convolutions without bias, batch
  # norms (scale, bias), 1x1 projection shortcuts where the shape changes.
  def block(cin, cout, stride=1):
    shortcut = cin * cout + 2 * cout if stride != 1 or cin != cout else 0
    return 9 * cin * cout + 9 * cout * cout + 4 * cout + shortcut
  expected = (9 * 3 * 16 + 2 * 16 + 2 * block(16, 16) + block(16, 16, 2) + block(16, 16)
              + block(16, h, 2) + 9 * h * 128 + block(128, 128) + block(128, 256, 2)
              + block(256, 256) + 256 * 100 + 100)
  params = jax.tree_util.tree_leaves(variables["params"])
  assert sum(a.size for a in params) == expected


def test_unknown_split_point_is_a_one_line_error_naming_it():
  model = build_model("cifar_resnet", depth=8, width=8)
  variables, x = _init(model, 32)
  with pytest.raises(ValueError) as error:
    model.apply(variables, x, "layer4[0]", method=model.head)
  message = str(error.value)
  assert "'layer4[0]'" in message and "layer3[0]" in message and "\n" not in message


def test_channels_must_match_the_normalization():
  model = build_model("cifar_resnet", depth=8, width=8)
  with pytest.raises(ValueError, match=r"expected images \(B, H, W, 3\).*got \(1, 28, 28, 1\)"):
    model.init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1)))
  gray = build_model("cifar_resnet", depth=8, width=8, mean=(0.13,), std=(0.31,))
  shapes = jax.eval_shape(lambda: gray.init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1))))
  assert shapes["params"]["stem"]["conv1"]["kernel"].shape == (3, 3, 1, 8)


def test_bad_cifar_depth_is_refused():
  with pytest.raises(ValueError, match="6n \\+ 2"):
    build_model("cifar_resnet", depth=21)


def _torchvision_state_dict(variables, stage_sizes, bottleneck):
  """The state_dict torchvision's ResNet would hold for `variables`, its
  names written out from torchvision's module layout."""
  params, stats = variables["params"], variables["batch_stats"]
  sd = {}

  def conv(name, kernel):
    sd[f"{name}.weight"] = np.asarray(kernel).transpose(3, 2, 0, 1)

  def bn(name, p, s):
    sd[f"{name}.weight"], sd[f"{name}.bias"] = np.asarray(p["scale"]), np.asarray(p["bias"])
    sd[f"{name}.running_mean"], sd[f"{name}.running_var"] = (np.asarray(s["mean"]),
                                                             np.asarray(s["var"]))
    sd[f"{name}.num_batches_tracked"] = np.asarray(7)

  conv("conv1", params["stem"]["conv1"]["kernel"])
  bn("bn1", params["stem"]["bn1"], stats["stem"]["bn1"])
  for s, size in enumerate(stage_sizes):
    for b in range(size):
      ours, theirs = f"layer{s + 1}[{b}]", f"layer{s + 1}.{b}"
      p, st = params[ours], stats[ours]
      for k in range(1, 4 if bottleneck else 3):
        conv(f"{theirs}.conv{k}", p[f"conv{k}"]["kernel"])
        bn(f"{theirs}.bn{k}", p[f"bn{k}"], st[f"bn{k}"])
      if "downsample_conv" in p:
        conv(f"{theirs}.downsample.0", p["downsample_conv"]["kernel"])
        bn(f"{theirs}.downsample.1", p["downsample_bn"], st["downsample_bn"])
  sd["fc.weight"], sd["fc.bias"] = np.asarray(params["fc"]["kernel"]).T, np.asarray(
      params["fc"]["bias"])
  return sd


@pytest.mark.parametrize("name,bottleneck", [("resnet18", False), ("resnet50", True)])
def test_torchvision_state_dict_converts_to_the_same_network(name, bottleneck, tmp_path):
  model = build_model(name, num_classes=5)
  variables, x = _init(model, 64)
  sd = _torchvision_state_dict(variables, model.stage_sizes, bottleneck)
  # As many entries as torchvision's own state_dicts of these networks.
  assert len(sd) == {"resnet18": 122, "resnet50": 320}[name]
  path = tmp_path / "weights.npz"
  np.savez(path, **sd)
  converted = resnet_torchvision.load_npz(str(path))
  assert jax.tree_util.tree_structure(converted) == jax.tree_util.tree_structure(
      {"params": variables["params"], "batch_stats": variables["batch_stats"]})
  for a, b in zip(jax.tree_util.tree_leaves(converted), jax.tree_util.tree_leaves(
      {"params": variables["params"], "batch_stats": variables["batch_stats"]})):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(model.apply(converted, x), model.apply(variables, x))


def test_foreign_state_dict_entry_is_named():
  with pytest.raises(ValueError, match="'layer1.0.se.weight'"):
    resnet_torchvision.variables_from_state_dict({"layer1.0.se.weight": np.zeros(3)})
