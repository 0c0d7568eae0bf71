"""lic_jax: learned image compression in JAX/Flax."""

__version__ = "0.1.0"


def lend_tool_names(package: str, parts: tuple[str, ...]):
  """The module __getattr__ of a paper family's package (lic_jax.ohm,
  .split, .grouping): `from lic_jax import split; split.sample_units(...)`
  works as it did when the family was one module. Every name that is not
  one of `parts` is its cli.py's, imported on first use, so that importing
  a part of the family never imports its tools."""

  def __getattr__(name: str):  # pylint: disable=invalid-name
    if name.startswith("__") or name in parts:
      raise AttributeError(f"module {package!r} has no attribute {name!r}")
    import importlib  # pylint: disable=g-import-not-at-top

    return getattr(importlib.import_module(f"{package}.cli"), name)

  return __getattr__
