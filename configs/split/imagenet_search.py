r"""The paper's random search (Table I, classification) on ResNet-50 / ImageNet:

  python -m lic_jax split search --config configs/split/imagenet_search.py

Its priors as they are, except L: the paper's Lr normalization is not given,
ours is per input pixel (see lic_jax.split.recipe), and a ResNet-50 unit
sends 0.01 to 0.3 symbols per pixel, so L spans [-3, 0] here (a starting
range: not run in this workplace).
"""

import ml_collections


def get_config():
  c = ml_collections.ConfigDict()
  c.point_config = "configs/split/imagenet_resnet50.py"
  c.splits = ("layer4[2]", "layer4[1]", "layer4[0]", "layer3[4]")
  c.channels = (32, 64, 96, 128)
  c.strides = (2, 4, 6)
  c.log_alpha = (-3.0, 0.0)
  c.step = (1.0, 16.0)
  c.rate_models = ("l1",)
  c.points_per_split = 25
  c.seed = 0
  c.output = "results/split/imagenet_search.json"
  c.plot = "results/split/imagenet_search.png"
  # Table IV's JPEG column (and our learned codec) on the same validation
  # images and backbone: benchmarks/split_baselines.py --config
  # configs/split/imagenet_resnet50.py --backbone resnet50.npz --output <this>.
  c.baselines = "results/split/imagenet_baselines.json"
  c.eval_max_examples = 0
  # The rates each frontier and baseline needs to reach these accuracies.
  c.accuracy_levels = (0.70, 0.72, 0.74, 0.75)
  return c
