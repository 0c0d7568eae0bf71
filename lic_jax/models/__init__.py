"""The models (learned image compression; ResNet classifiers for the task
recipes) and the registry that builds them by name."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from lic_jax.models.bls2017 import FactorizedPrior
from lic_jax.models.bmshj2018 import ScaleHyperprior
from lic_jax.models.he2021 import CheckerboardContextHierarchicalPriors
from lic_jax.models.mbt2018 import (JointAutoregressiveHierarchicalPriors,
                                    MeanScaleHyperprior)
from lic_jax.models.ms2020 import ChannelwiseAutoregressive
from lic_jax.models.resnet import NETWORKS, ResNet

FAMILY_MODELS = ("CBANetAR", "CBANetHP", "GroupedClassifier", "OHMAutoencoder",
                 "SplitClassifier")


def registered() -> dict[str, type[nn.Module]]:
  """{name: model class} of every model build_model knows."""
  # The paper families' models live in their packages (lic_jax.cbanet, .ohm,
  # .split, .grouping) and build on this package's transforms: they are
  # imported on first use, after this package, never while it loads.
  # pylint: disable=g-import-not-at-top
  from lic_jax.cbanet.model import CBANetAR, CBANetHP
  from lic_jax.grouping.model import GroupedClassifier
  from lic_jax.ohm.model import OHMAutoencoder
  from lic_jax.split.model import SplitClassifier

  return {
      "bls2017": FactorizedPrior,
      "bmshj2018": ScaleHyperprior,
      "mbt2018_mean": MeanScaleHyperprior,
      "mbt2018": JointAutoregressiveHierarchicalPriors,
      "he2021": CheckerboardContextHierarchicalPriors,
      "ms2020": ChannelwiseAutoregressive,
      "cbanet_hp": CBANetHP,
      "cbanet_ar": CBANetAR,
      "ohm_autoencoder": OHMAutoencoder,
      **NETWORKS,
      "split_classifier": SplitClassifier,
      "grouped_classifier": GroupedClassifier,
  }


def __getattr__(name: str):
  # MODELS and the families' model classes, as this package exported them.
  if name == "MODELS":
    return registered()
  if name in FAMILY_MODELS:
    return next(cls for cls in registered().values() if cls.__name__ == name)
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_model(name: str, **kwargs) -> nn.Module:
  """The model registered under `name`, e.g. build_model('bmshj2018', num_filters=128)."""
  models = registered()
  if name not in models:
    raise ValueError(f"unknown model {name!r}; known models: {sorted(models)}")
  return models[name](**kwargs)


def model_from_spec(spec) -> nn.Module:
  """Builds a model spec: {'name': ..., **constructor arguments}."""
  return build_model(spec["name"], **{k: v for k, v in spec.items() if k != "name"})


def abstract_params(model: nn.Module):
  """The parameter tree of a compression model as shapes and dtypes, without
  computing anything (to restore parameters into, or to count them)."""
  x = jnp.zeros((1, model.downsampling, model.downsampling, 3))
  keys = {"params": jax.random.PRNGKey(0), "noise": jax.random.PRNGKey(0)}
  return jax.eval_shape(lambda: model.init(keys, x, training=True)["params"])


def model_from_config(config) -> nn.Module:
  """Builds config.model, a model spec."""
  return model_from_spec(config.model)


__all__ = ["MODELS", "CBANetAR", "CBANetHP", "ChannelwiseAutoregressive",
           "CheckerboardContextHierarchicalPriors",
           "FactorizedPrior", "GroupedClassifier", "JointAutoregressiveHierarchicalPriors",
           "MeanScaleHyperprior", "OHMAutoencoder", "ResNet", "ScaleHyperprior", "SplitClassifier", "abstract_params", "build_model",
           "model_from_config", "model_from_spec", "registered"]
