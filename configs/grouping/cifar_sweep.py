r"""The rate-accuracy sweep of learned grouping on our CIFAR-10 subset:

  python -m lic_jax grouping sweep --config configs/grouping/cifar_sweep.py

Three variants, each fine-tuned from configs/grouping/cifar_pretrain.py at
every lambda (configs/grouping/cifar.py, 400 steps): no grouping (k = 1),
k = 10 profiles with the paper's soft memberships, and k = 10 with the
authors' code's memberships (one-hot of the detached argmax: the head
never trains). Every point is evaluated on all 5,000 test images with real
files. The first variant is the reference of the comparison at equal rate.
"""

import ml_collections


def get_config():
  c = ml_collections.ConfigDict()
  c.point_config = "configs/grouping/cifar.py"
  c.variants = ("1,soft", "10,soft", "10,hard")
  c.lambdas = (0.5, 2.0, 8.0, 16.0, 32.0)
  c.eval_max_examples = 0  # 0: all 5000 test images
  c.output = "results/grouping/cifar_sweep.json"
  c.plot = "results/grouping/cifar_sweep.png"
  return c
