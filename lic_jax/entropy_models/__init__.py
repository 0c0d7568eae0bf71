"""Entropy models: learned factorized densities and conditional Gaussians."""

from lic_jax.entropy_models.factorized import EntropyBottleneck
from lic_jax.entropy_models.gaussian import GaussianConditional, default_scale_table

__all__ = ["EntropyBottleneck", "GaussianConditional", "default_scale_table"]
