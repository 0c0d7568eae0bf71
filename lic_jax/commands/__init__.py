"""The command-line fronts of the tools whose library modules import JAX:
each holds a command's usage, flags or arguments, and imports the library
(lic_jax.train, .codec, ...) only once they are parsed, so that --help and a
usage error answer without importing JAX, Flax and orbax. Run them as
`python -m lic_jax COMMAND` (lic_jax/__main__.py) or `lic-jax COMMAND`."""
