"""The models (learned image compression; ResNet classifiers for the task
recipes) and the registry that builds them by name."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from lic_jax.models.bls2017 import FactorizedPrior
from lic_jax.models.bmshj2018 import ScaleHyperprior
from lic_jax.models.cbanet import CBANetAR, CBANetHP
from lic_jax.models.grouping import GroupedClassifier
from lic_jax.models.mbt2018 import (JointAutoregressiveHierarchicalPriors,
                                    MeanScaleHyperprior)
from lic_jax.models.ohm import OHMAutoencoder
from lic_jax.models.resnet import NETWORKS, ResNet
from lic_jax.models.split import SplitClassifier

MODELS = {
    "bls2017": FactorizedPrior,
    "bmshj2018": ScaleHyperprior,
    "mbt2018_mean": MeanScaleHyperprior,
    "mbt2018": JointAutoregressiveHierarchicalPriors,
    "cbanet_hp": CBANetHP,
    "cbanet_ar": CBANetAR,
    "ohm_autoencoder": OHMAutoencoder,
    **NETWORKS,
    "split_classifier": SplitClassifier,
    "grouped_classifier": GroupedClassifier,
}


def build_model(name: str, **kwargs) -> nn.Module:
  """The model registered under `name`, e.g. build_model('bmshj2018', num_filters=128)."""
  if name not in MODELS:
    raise ValueError(f"unknown model {name!r}; known models: {sorted(MODELS)}")
  return MODELS[name](**kwargs)


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


__all__ = ["MODELS", "CBANetAR", "CBANetHP", "FactorizedPrior", "GroupedClassifier", "JointAutoregressiveHierarchicalPriors",
           "MeanScaleHyperprior", "OHMAutoencoder", "ResNet", "ScaleHyperprior", "SplitClassifier", "abstract_params", "build_model",
           "model_from_config", "model_from_spec"]
