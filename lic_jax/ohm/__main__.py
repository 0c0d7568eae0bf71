"""python -m lic_jax ohm compress|decompress|truncate ... (lic_jax.ohm.cli)."""

from lic_jax.ohm.cli import main

if __name__ == "__main__":
  main()
