"""Command-line plumbing shared by the entry points."""

import keyword
import logging
import os
import re
import sys

from absl import flags

# The flags with which absl prints a command's usage.
HELP_FLAGS = ("help", "helpfull", "helpshort", "helpxml", "h", "?")
# Keys users write as the papers do, and the config's name for each.
SPELLINGS = {"lambda": "lmbda"}


def summary(doc: str) -> str:
  """A command's one-line description: its docstring's first paragraph."""
  return " ".join(doc.strip().split("\n\n")[0].split())


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
  except SystemExit as e:
    # absl's --help (and --helpfull, --helpshort) prints the usage, then
    # exits with status 1; asking for help is no error.
    if e.code == 1 and any(arg.lstrip("-") in HELP_FLAGS for arg in argv[1:]):
      sys.exit(0)
    raise
  except OSError as e:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    # The configs are the repository's, not the installed package's.
    hint = (" (configs/ comes with a clone of the repository: run from its root)"
            if "'configs/" in lines[-1] and not os.path.isdir("configs") else "")
    sys.exit(f"error: cannot load the config file: {lines[-1]}{hint}")
  except (AttributeError, KeyError) as e:
    message = str(e.args[0] if e.args else e).strip("'\"").replace("\\n", " ")
    message = message.replace("\\'", "'").replace("\n", " ")
    sys.exit(f"error: unknown config key: {message}")
  except ValueError as e:
    # ml_collections cannot parse an override whose key is a Python keyword
    # (--config.lambda): it raises a SyntaxError inside a ValueError.
    match = re.match(r"Could not parse '([^']*)'", str(e))
    if match is None:
      raise
    sys.exit(f"error: {_keyword_key(match.group(1))}")
  except flags.Error as e:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    if any(line.startswith("Traceback") for line in lines):
      # get_config(argument) raised: ml_collections puts its stack trace in
      # the message; its last line names the problem.
      sys.exit(f"error: {lines[0].split(': Error whilst')[0]}: {lines[-1]}")
    sys.exit(f"error: {e}")


def _keyword_key(path: str) -> str:
  """The message for a config override `path` that did not parse."""
  parts = path.split(".")
  bad = [part for part in parts if keyword.iskeyword(part)]
  if not bad:
    return f"cannot parse the config key {path!r}"
  spelled = ".".join(SPELLINGS.get(part, part) for part in parts)
  hint = f"; did you mean {spelled!r}?" if spelled != path else ""
  return f"unknown config key {path!r}: {bad[0]!r} is a Python keyword, never a key{hint}"


def run_module(module: str) -> None:
  """app.run of `module`'s main(argv), where `module` (and with it JAX) is
  imported only once absl has parsed the flags: --help and a usage error
  answer in a fraction of a second instead of the one or two seconds JAX,
  Flax and orbax take to import. Its USER_ERRORS end the program with their
  message, the libraries' INFO chatter is left out of the log
  (quiet_libraries), and compilations are cached across processes
  (enable_compilation_cache).

  USER_ERRORS are problems with what the user passed (a missing
  checkpoint, a foreign file), not bugs, so a stack trace would only hide
  the message.
  """
  import importlib  # pylint: disable=g-import-not-at-top

  from absl import app  # pylint: disable=g-import-not-at-top

  def guarded(argv):
    quiet_libraries()
    enable_compilation_cache()
    library = importlib.import_module(module)
    try:
      return library.main(argv)
    except library.USER_ERRORS as e:
      sys.exit(f"error: {e}")

  app.run(guarded, flags_parser=parse_flags)


def run_parsed(parser, module: str, argv: list[str] | None = None) -> None:
  """`module`.run of the arguments `parser` (an argparse parser) parses from
  `argv`, where `module` (and with it JAX) is imported only once they are
  parsed: --help and a usage error answer at once."""
  import importlib  # pylint: disable=g-import-not-at-top

  args = parser.parse_args(argv)
  importlib.import_module(module).run(args)


def run_as_main(module: str, argv: list[str] | None = None) -> None:
  """Runs `module` as `python -m module ARGV...` would: its __main__ block,
  with sys.argv and sys.modules["__main__"] (whose docstring absl's --help
  prints) its own. `argv` None: this process's arguments."""
  import runpy  # pylint: disable=g-import-not-at-top

  if argv is not None:
    sys.argv = [module, *argv]
  runpy.run_module(module, run_name="__main__", alter_sys=True)


class _OrbaxInfo(logging.Filter):
  """Drops orbax's INFO lines (several per checkpoint save)."""

  def filter(self, record):
    return record.levelno >= logging.WARNING or "/orbax/" not in record.pathname


def quiet_libraries() -> None:
  """The log of an absl command (INFO and up) without the libraries' INFO lines.

  JAX logs at INFO each backend this machine lacks (rocm, libtpu), and jax
  0.5.3 gives its loggers a handler of their own besides absl's, so each
  line came twice: its loggers keep WARNING and up, through their own
  handler only (or Python's last-resort one where they have none).
  """
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top

  for name in ("jax", "jaxlib"):
    logger = logging.getLogger(name)
    logger.setLevel(logging.WARNING)
    logger.propagate = False
  handler = absl_logging.get_absl_handler()
  if not any(isinstance(f, _OrbaxInfo) for f in handler.filters):
    handler.addFilter(_OrbaxInfo())


def enable_compilation_cache(min_compile_time_s: float = 0.0) -> None:
  """JAX's persistent compilation cache, so that a second process does not
  recompile what a first one did (a training's init and step, the codec's
  transforms): XLA:CPU compiles a small model's training step in seconds.

  Location: $LIC_JAX_CACHE, else ~/.cache/lic_jax/jax. Executables that
  compiled in less than `min_compile_time_s` are not written: a command
  writes all (its few small ones are most of what it compiles), the test
  process only those of a second or more (tests/conftest.py). A cache this
  process already set (JAX_COMPILATION_CACHE_DIR, or an earlier call) is
  kept as it is. JAX's own JAX_ENABLE_COMPILATION_CACHE=false turns it
  off. Not where XLA_FLAGS asks for several CPU devices: with jax 0.5.3,
  executables from the cache can deadlock the collectives between them
  (measured: an 8-device FSDP training hung at its first step, every XLA
  thread waiting in a rendezvous). Processes of a multi-process CPU run
  turn it off too (parallel.initialize_distributed).
  """
  import jax  # pylint: disable=g-import-not-at-top

  if _host_device_count() > 1 or jax.config.jax_compilation_cache_dir:
    return
  path = os.environ.get("LIC_JAX_CACHE",
                        os.path.join(os.path.expanduser("~"), ".cache", "lic_jax", "jax"))
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", min_compile_time_s)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


# The XLA flag that splits the CPU into several devices (read once, at JAX's
# import: set it in a subprocess's environment).
HOST_DEVICES_FLAG = "--xla_force_host_platform_device_count"


def cpu_environment(devices: int) -> dict[str, str]:
  """This environment with `devices` CPU devices and no accelerator, for a
  subprocess; XLA_FLAGS' other flags are kept."""
  flags = [f for f in os.environ.get("XLA_FLAGS", "").split()
           if not f.startswith(HOST_DEVICES_FLAG + "=")]
  return {**os.environ, "JAX_PLATFORMS": "cpu",
          "XLA_FLAGS": " ".join([*flags, f"{HOST_DEVICES_FLAG}={devices}"])}


def _host_device_count() -> int:
  """The CPU devices XLA_FLAGS asks for (1 where it does not say)."""
  counts = re.findall(rf"{HOST_DEVICES_FLAG}=(\d+)", os.environ.get("XLA_FLAGS", ""))
  return int(counts[-1]) if counts else 1


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
  check_new_output(output, paths, force, coded=True)
  image = image_lib.read_rgb_uint8(paths[0])
  data = encode(image)
  write_atomic(output, data)
  return data, image.shape[0] * image.shape[1]
