"""torchvision ResNet weights -> lic_jax.models.resnet variables.

Save a torchvision ResNet's state_dict as .npz where torch is installed
(no torch is needed to load it here):

    import numpy as np, torchvision
    net = torchvision.models.resnet50(weights="IMAGENET1K_V2")
    np.savez("resnet50.npz", **{k: v.numpy() for k, v in net.state_dict().items()})

then start a run from it with --config.init_from=resnet50.npz (or call
load_npz). The layouts are the same network (lic_jax.models.resnet), so the
conversion only renames and transposes:

    conv1, bn1                       -> stem/conv1, stem/bn1
    layerS.B.convK, bnK              -> layerS[B]/convK, layerS[B]/bnK
    layerS.B.downsample.0, .1        -> layerS[B]/downsample_conv, downsample_bn
    fc                               -> fc
    conv weight (O, I, kh, kw)       -> kernel (kh, kw, I, O)
    linear weight (O, I)             -> kernel (I, O)
    bn weight, bias                  -> params scale, bias
    bn running_mean, running_var     -> batch_stats mean, var
"""

import re

import numpy as np

_BN_PARAMS = {"weight": "scale", "bias": "bias"}
_BN_STATS = {"running_mean": "mean", "running_var": "var"}


def _module_path(name: str) -> str:
  """torchvision module name -> our '/'-joined module path."""
  match = re.fullmatch(r"layer(\d+)\.(\d+)\.(.+)", name)
  if match:
    stage, block, rest = match.groups()
    rest = {"downsample.0": "downsample_conv", "downsample.1": "downsample_bn"}.get(rest, rest)
    return f"layer{stage}[{block}]/{rest}"
  if name in ("conv1", "bn1"):
    return f"stem/{name}"
  return name


def _insert(tree: dict, path: str, value: np.ndarray) -> None:
  *modules, leaf = path.split("/")
  for module in modules:
    tree = tree.setdefault(module, {})
  tree[leaf] = value


def variables_from_state_dict(state_dict) -> dict:
  """{'params': ..., 'batch_stats': ...} from a torchvision ResNet state_dict
  (a mapping of names to numpy arrays)."""
  params, stats = {}, {}
  for key, value in state_dict.items():
    value = np.asarray(value)
    module, _, kind = key.rpartition(".")
    if kind == "num_batches_tracked":
      continue
    path = _module_path(module)
    is_bn = re.search(r"(^|/)(bn\d+|downsample_bn)$", path) is not None
    if is_bn and kind in _BN_STATS:
      _insert(stats, f"{path}/{_BN_STATS[kind]}", value.astype(np.float32))
    elif is_bn and kind in _BN_PARAMS:
      _insert(params, f"{path}/{_BN_PARAMS[kind]}", value.astype(np.float32))
    elif kind == "weight" and value.ndim == 4:
      _insert(params, f"{path}/kernel", value.transpose(2, 3, 1, 0).astype(np.float32))
    elif kind == "weight" and value.ndim == 2:
      _insert(params, f"{path}/kernel", value.T.astype(np.float32))
    elif kind == "bias":
      _insert(params, f"{path}/bias", value.astype(np.float32))
    else:
      raise ValueError(f"unexpected entry {key!r} {value.shape} in a torchvision "
                       "ResNet state_dict")
  return {"params": params, "batch_stats": stats}


def load_npz(path: str) -> dict:
  """Variables from a state_dict saved with np.savez (see the module
  docstring); the trainer checks them leaf by leaf against its model."""
  with np.load(path) as f:
    return variables_from_state_dict({k: f[k] for k in f.files})
