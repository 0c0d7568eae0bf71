"""Defaults shared by every training config; model configs override them."""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # The task (lic_jax.recipes): 'compression' or 'classification'.
  c.recipe = "compression"
  c.model = ml_collections.ConfigDict({"name": "bmshj2018"})
  c.workdir = "runs/default"
  c.seed = 0

  # L = R + lambda * D; D = MSE on 0..255 ('mse') or 1 - MS-SSIM ('ms-ssim').
  # CompressAI's MSE lambdas: 0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483.
  c.lmbda = 0.0130
  c.distortion = "mse"

  c.data = ml_collections.ConfigDict()
  c.data.source = "folder"        # 'folder' or 'tfds'
  c.data.directory = ""           # '' = $LIC_JAX_DATA/train or ../shared/data/train
  c.data.tfds_name = ""
  c.data.tfds_split = "train"
  c.data.tfds_data_dir = ""
  c.data.crop_size = 256
  c.data.batch_size = 8

  c.num_steps = 1_000_000
  c.optimizer = "adam"            # 'adam' or 'sgd' (with c.momentum, c.nesterov)
  c.momentum = 0.9
  c.nesterov = False
  c.weight_decay = 0.0            # L2 on kernels, added to the gradient
  c.learning_rate = 1e-4
  c.lr_schedule = "piecewise"     # 'piecewise' (lr_drop_steps) or 'cosine'
  c.lr_drop_steps = ()            # learning rate x0.1 at each of these steps
  c.warmup_steps = 0              # linear warm-up of the learning rate
  c.aux_learning_rate = 1e-3
  c.grad_clip = 1.0               # 0 = no clipping
  # A run directory, an exported model (lic_jax.codec export; the bundled ones
  # in lic_jax/assets/pretrained) or a torchvision ResNet state_dict as .npz, whose newest
  # parameters start this run (fresh optimizer state, step 0), e.g. to
  # fine-tune one lambda from another; '' = random init. init_parts limits
  # it to some parts: 'part' or 'part=source_part' path prefixes.
  c.init_from = ""
  c.init_parts = ()
  # Parameter path prefixes that do not train (e.g. ('stem', 'layer1[0]')):
  # no updates, no optimizer state, batch statistics kept.
  c.freeze = ()

  # Devices: the global batch is split over every mesh axis; parameters and
  # optimizer state are replicated, except tensors of >= fsdp_min_size
  # elements, which an 'fsdp' axis splits (see lic_jax.parallel).
  c.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 1})
  c.fsdp_min_size = 2**18
  c.distributed = False           # jax.distributed.initialize() (multi-host)

  # Resuming a run directory with a config that differs from its stored one
  # in anything but run length, logging and devices is refused unless this.
  c.allow_changes = False

  c.log_every = 100
  c.checkpoint_every = 1000
  c.keep_checkpoints = 3
  c.quiet = False                 # no progress bar

  c.eval = ml_collections.ConfigDict()
  c.eval.directory = ""           # '' = no periodic evaluation
  c.eval.every = 10_000
  c.eval.max_images = 0           # 0 = all
  return c


def paper_schedule(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The long accelerator schedule of the paper-scale configs (tpu/, gpu/):
  500k steps, the learning rate x0.1 at 450k, sparser logs and checkpoints.
  (256x256 crops and lr 1e-4 are already the defaults above.)"""
  c.num_steps = 500_000
  c.lr_drop_steps = (450_000,)
  c.log_every = 500
  c.checkpoint_every = 5000
  return c


def classification(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The base config switched to the classification recipe: labelled data
  (lic_jax.labelled_data), SGD with momentum, test accuracy as evaluation;
  the compression-only keys are removed so that overriding them is an error."""
  for key in ("lmbda", "distortion", "aux_learning_rate"):
    del c[key]
  c.recipe = "classification"
  c.label_smoothing = 0.0
  c.data = ml_collections.ConfigDict({
      "source": "cifar10",          # 'cifar10', 'mnist' (offline arrays) or 'tfds'
      "directory": "",              # data root; '' = $LIC_JAX_DATA or ../shared/data
      "image_size": 32,
      "channels": 3,
      "augment_pad": 4,             # random crops of the image padded by this
      "augment_flip": True,         # random horizontal flips
      "tfds_name": "",
      "tfds_split": "train",
      "tfds_data_dir": "",
      "batch_size": 128,
  })
  c.optimizer = "sgd"
  c.momentum = 0.9
  c.nesterov = True
  c.grad_clip = 0.0
  # Accuracy on eval.split every eval.every steps (0: at the end only), on
  # eval.max_examples evenly spaced examples (0: all).
  c.eval = ml_collections.ConfigDict({"split": "test", "every": 0, "batch_size": 500,
                                      "max_examples": 0})
  return c
