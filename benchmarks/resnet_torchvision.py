r"""Our ResNets against torchvision's, through the .npz weight converter.

torchvision builds each network (random weights, random batch-norm running
averages, eval mode; nothing is downloaded), saves its state_dict as .npz
with a batch of random images and its logits; lic_jax loads the .npz with
lic_jax.models.resnet_torchvision and computes the logits of the same
images. torch need not be installed beside lic_jax: name a Python that has
torch and torchvision.

  python benchmarks/resnet_torchvision.py --torch-python /path/to/torch/bin/python \
      [--models resnet18 resnet50] [--json results/resnet_torchvision.json]

The last line: `max_abs_logit_diff=... max_rel_logit_diff=... top1_agreement=...`
over all models.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from lic_jax import cli

# Run by the torch Python: writes <out>/<model>.npz (state_dict),
# <out>/<model>_io.npz (images in [0, 1], NHWC, and torchvision's logits).
_EXPORT = r"""
import sys
import numpy as np
import torch
import torchvision

out, size, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
mean = np.array([0.485, 0.456, 0.406], np.float32)
std = np.array([0.229, 0.224, 0.225], np.float32)
for name in sys.argv[4:]:
  torch.manual_seed(0)
  net = getattr(torchvision.models, name)(weights=None).eval()
  with torch.no_grad():
    for m in net.modules():
      if isinstance(m, torch.nn.BatchNorm2d):
        m.running_mean.uniform_(-0.2, 0.2)
        m.running_var.uniform_(0.5, 1.5)
        m.weight.uniform_(0.5, 1.5)
        m.bias.uniform_(-0.2, 0.2)
  images = np.random.default_rng(0).random((batch, size, size, 3), np.float32)
  x = torch.from_numpy(((images - mean) / std).transpose(0, 3, 1, 2).copy())
  with torch.no_grad():
    logits = net(x).numpy()
  np.savez(f"{out}/{name}.npz", **{k: v.numpy() for k, v in net.state_dict().items()})
  np.savez(f"{out}/{name}_io.npz", images=images, logits=logits)
  print(name, "torch", torch.__version__, "torchvision", torchvision.__version__, flush=True)
"""


def compare(directory: str, name: str) -> dict:
  """Our logits from the converted weights against torchvision's."""
  import jax  # pylint: disable=import-outside-toplevel
  from lic_jax.models import build_model, resnet_torchvision  # pylint: disable=import-outside-toplevel

  variables = resnet_torchvision.load_npz(os.path.join(directory, f"{name}.npz"))
  with np.load(os.path.join(directory, f"{name}_io.npz")) as f:
    images, theirs = f["images"], f["logits"]
  model = build_model(name, num_classes=theirs.shape[-1])
  ours = np.asarray(jax.jit(lambda v, x: model.apply(v, x))(variables, images))
  diff = np.abs(ours - theirs)
  return {"model": name, "images": list(images.shape),
          "logit_scale": float(np.abs(theirs).max()),
          "max_abs_logit_diff": float(diff.max()),
          "max_rel_logit_diff": float(diff.max() / np.abs(theirs).max()),
          "top1_agreement": float(np.mean(ours.argmax(-1) == theirs.argmax(-1)))}


def main() -> None:
  parser = argparse.ArgumentParser(description=cli.summary(__doc__))
  parser.add_argument("--torch-python", required=True,
                      help="a Python interpreter with torch and torchvision")
  parser.add_argument("--models", nargs="+", default=["resnet18", "resnet34", "resnet50"])
  parser.add_argument("--size", type=int, default=224)
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--json", default="", help="where to write the results")
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as directory:
    exported = subprocess.run(
        [args.torch_python, "-c", _EXPORT, directory, str(args.size), str(args.batch),
         *args.models], capture_output=True, text=True, check=False)
    if exported.returncode:
      sys.exit(f"error: the torch side failed:\n{exported.stderr[-2000:]}")
    versions = exported.stdout.strip().splitlines()[0].split(" ", 1)[1]
    results = [compare(directory, name) for name in args.models]
  for r in results:
    print(f"{r['model']}: max |logit diff| {r['max_abs_logit_diff']:.2e} "
          f"(logits up to {r['logit_scale']:.2f}), top-1 agreement {r['top1_agreement']:.3f}")
  if args.json:
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
      json.dump({"torch": versions, "size": args.size, "results": results}, f, indent=2)
  print(f"max_abs_logit_diff={max(r['max_abs_logit_diff'] for r in results):.3e} "
        f"max_rel_logit_diff={max(r['max_rel_logit_diff'] for r in results):.3e} "
        f"top1_agreement={min(r['top1_agreement'] for r in results):.3f}")


if __name__ == "__main__":
  main()
