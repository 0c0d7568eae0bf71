r"""The random search of Datta et al. (Sec. III-C, Table I) on the CIFAR
ResNet-20, adapted to its feature sizes:

  python -m lic_jax split search --config configs/split/cifar_search.py

Every point is a unit of configs/split/cifar.py (600 steps), trained once
per rate model on the same (Cr, S, alpha, Q) samples, so that the l1 proxy
and the entropy model are compared at equal search budget. Priors (uniform,
as the paper's; alpha = 10^L with L uniform):

- split points: layer3[2] (the last block, as the paper's layer4[2]),
  layer2[2] (the end of the previous stage, as its layer3[4]) and
  layer3[0] (the first block of the last stage, as its layer4[0]);
- Cr in {4, 8, 16, 32}, capped at the split's C: ResNet-20 has C = 64 and 32
  there where ResNet-50 has 2048 and 1024, and CIFAR images 1/49 of the
  pixels of ImageNet's 224 x 224, so the paper's {32, ..., 128} (1/64 to
  1/16 of C) would leave a handful of symbols;
- S in {2, 4, 6}: the encoder's padding gives ceil(H/S) for any H (8 and
  16 here: 4/2/2 and 8/4/3 rows);
- Q uniform in [0.25, 4]: the paper's [1, 16] scaled by 1/4, because a
  unit starts with outputs of about unit size here (batch-normalized
  features, a fresh encoder) and rounding with Q = 16 leaves it no signal
  to start from in 600 steps;
- L in [-2, 1]: the paper's three decades, moved to our normalization of
  Lr (per input pixel, like bpp) against Lt in nats.
"""

import ml_collections


def get_config():
  c = ml_collections.ConfigDict()
  c.point_config = "configs/split/cifar.py"
  c.splits = ("layer3[2]", "layer2[2]", "layer3[0]")
  c.channels = (4, 8, 16, 32)
  c.strides = (2, 4, 6)
  c.log_alpha = (-2.0, 1.0)
  c.step = (0.25, 4.0)
  c.rate_models = ("l1", "entropy")
  c.points_per_split = 12
  c.seed = 0
  c.output = "results/split/cifar_search.json"
  c.plot = "results/split/cifar_search.png"
  c.baselines = "results/split/cifar_baselines.json"
  c.eval_max_examples = 0  # 0: all 5000 test images
  # The rates each frontier and baseline needs to reach these accuracies.
  c.accuracy_levels = (0.70, 0.75, 0.78, 0.80)
  return c
