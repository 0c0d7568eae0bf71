"""lic_jax: learned image compression in JAX/Flax."""

__version__ = "0.1.0"
