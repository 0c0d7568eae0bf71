"""Command-line plumbing shared by the entry points."""

import sys

from absl import flags


def parse_flags(argv: list[str]) -> list[str]:
  """absl flag parsing that reports bad config overrides in one line.

  ml_collections raises AttributeError/KeyError (with a stack trace) for an
  override of a key the config does not have; a user should see which key.
  """
  try:
    remaining = flags.FLAGS(argv)
    if "config" in flags.FLAGS and flags.FLAGS.config is not None:
      # A config file that failed to load raises only when first read.
      flags.FLAGS.config.get("workdir")
    return remaining
  except OSError as e:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    sys.exit(f"error: cannot load the config file: {lines[-1]}")
  except (AttributeError, KeyError) as e:
    message = str(e.args[0] if e.args else e).strip("'\"").replace("\\n", " ")
    message = message.replace("\\'", "'").replace("\n", " ")
    sys.exit(f"error: unknown config key: {message}")
  except flags.Error as e:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    if any(line.startswith("Traceback") for line in lines):
      # get_config(argument) raised: ml_collections puts its stack trace in
      # the message; its last line names the problem.
      sys.exit(f"error: {lines[0].split(': Error whilst')[0]}: {lines[-1]}")
    sys.exit(f"error: {e}")


def run(main, user_errors: tuple[type[Exception], ...] = (FileNotFoundError,)) -> None:
  """app.run(main) where `user_errors` end the program with their message.

  Those are problems with what the user passed (a missing checkpoint, a
  foreign file), not bugs, so a stack trace would only hide the message.
  """
  from absl import app  # pylint: disable=g-import-not-at-top

  def guarded(argv):
    try:
      return main(argv)
    except user_errors as e:
      sys.exit(f"error: {e}")

  app.run(guarded, flags_parser=parse_flags)


def enable_compilation_cache() -> None:
  """JAX's persistent compilation cache, so a second process does not recompile.

  Location: $LIC_JAX_CACHE, else ~/.cache/lic_jax/jax.
  """
  import os  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top

  path = os.environ.get("LIC_JAX_CACHE",
                        os.path.join(os.path.expanduser("~"), ".cache", "lic_jax", "jax"))
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def encode_image_to_file(paths: list[str], output: str | None, force: bool, encode
                         ) -> tuple[bytes, int]:
  """Reads the one 8-bit RGB image of `paths`, writes encode(image) to
  `output` atomically; (the file's bytes, the image's pixels). Refuses,
  before any work, a missing output, one that is the input, and an existing
  one without `force`."""
  # Imported here: the entry points import this module before their flags.
  from lic_jax import image as image_lib  # pylint: disable=g-import-not-at-top
  from lic_jax.files import check_new_output, write_atomic  # pylint: disable=g-import-not-at-top

  if len(paths) != 1 or not output:
    raise ValueError("encode takes one image and -o OUTPUT.lic")
  check_new_output(output, paths, force)
  image = image_lib.read_rgb_uint8(paths[0])
  data = encode(image)
  write_atomic(output, data)
  return data, image.shape[0] * image.shape[1]
