"""What every model shares: input checks and the rate of its likelihoods."""

import jax
import jax.numpy as jnp


def check_image_batch(x: jax.Array, multiple: int) -> None:
  """Raises a ValueError naming the problem unless x is (B, H, W, 3) float."""
  if x.ndim != 4 or x.shape[-1] != 3:
    raise ValueError(f"expected an image batch of shape (B, H, W, 3), got {x.shape}")
  if x.shape[1] % multiple or x.shape[2] % multiple:
    raise ValueError(
        f"image size {x.shape[1]}x{x.shape[2]} is not a multiple of {multiple}; "
        "pad it first (lic_jax.image.pad_to_multiple)")
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise ValueError(f"expected float pixels in [0, 1], got dtype {x.dtype}")


def bits_per_image(likelihoods: dict[str, jax.Array]) -> jax.Array:
  """Rate in bits of each image: the sum of -log2 P over all its latents."""
  total = 0.0
  for lik in likelihoods.values():
    total = total + jnp.sum(-jnp.log2(lik), axis=tuple(range(1, lik.ndim)))
  return total


def model_output(x_hat: jax.Array, likelihoods: dict[str, jax.Array]) -> dict:
  """What every model returns: reconstruction, likelihoods and bits per image."""
  return {"x_hat": x_hat, "likelihoods": likelihoods,
          "bits": bits_per_image(likelihoods)}
