"""Whether a decode fits, decided from a file's header before anything is
allocated: one mechanism for every decoder (image codecs, CBANet, OHM / INT
map streams, feature units, grouping profiles).

A decoder estimates the bytes that decoding an image of the declared size
takes beyond the loaded model, `decode_memory(height, width)`, as a
`Footprint`:

- programs: the XLA programs it runs at that size, by XLA's own buffer
  assignment (their temporaries and outputs): a `ProgramMemory` compiles a
  program at the size it will run at, without running it (the decode then
  reuses the compilation), and reads XLA's memory analysis: a hostile
  header within max_pixels can cost a compilation (a fraction of a
  second), never an allocation of its size; one over it costs neither;
- host: the numpy arrays it holds, bytes per image pixel and per latent
  element, counted from the decoder's code;
- fixed: what neither counts and does not grow with the image (the
  compilations of the decode, the runtime's arenas), measured per kind of
  decoder.

`check` then refuses, with one line naming the size, the limit and the
memory needed, a size over the decoder's max_pixels, or a decode that
needs more than the available memory or the room left under the address-
space limit (ulimit -v). benchmarks/decode_memory.py measures the peak
resident memory of decodes of every family at three declared sizes
against their estimates (results/decode_memory.json): each estimate is at
least the measurement and at most twice it.
"""

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.extend as jex

from lic_jax.coding.container import BitstreamError

# Every estimate's margin over the bytes it counts that grow with the image.
MARGIN = 1.25
# Address space a decode reserves per byte it uses (XLA's and malloc's
# arenas; measured: 2.8 GB more at 67 MP for an estimate of 2.4 GB).
ADDRESS_SPACE_PER_BYTE = 1.5


@dataclasses.dataclass(frozen=True)
class Footprint:
  """Bytes a decode holds at its peak: XLA programs' buffers, host arrays,
  and a fixed part."""

  programs: int = 0
  host: int = 0
  fixed: int = 0

  def __add__(self, other: "Footprint") -> "Footprint":
    return Footprint(self.programs + other.programs, self.host + other.host,
                     self.fixed + other.fixed)

  def needed(self) -> int:
    """The estimate: what was counted, with the margin, and the fixed part."""
    return int(MARGIN * (self.programs + self.host) + self.fixed)


def _grouped_conv_patches(jaxpr) -> int:
  """The largest patches buffer of a grouped convolution in the program:
  XLA:CPU computes a convolution with feature_group_count > 1 (e.g. a
  depthwise one) through a buffer of every output position's k x k x C_in
  inputs, which its buffer assignment does not show (measured: CBANet's
  IBAL, 5x5 depthwise over 192 channels, took 357 MB at 128 x 128
  positions where XLA reports 27 MB; 341 MB with this buffer)."""
  largest = 0
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == "conv_general_dilated" and eqn.params["feature_group_count"] > 1:
      spec = eqn.params["dimension_numbers"]
      lhs, rhs = eqn.invars[0].aval.shape, eqn.invars[1].aval.shape
      out = eqn.outvars[0].aval.shape
      positions = out[spec.out_spec[0]] * math.prod(out[d] for d in spec.out_spec[2:])
      taps = math.prod(rhs[d] for d in spec.rhs_spec[2:])
      largest = max(largest, 4 * positions * taps * lhs[spec.lhs_spec[1]])
    for param in eqn.params.values():
      for sub in (param if isinstance(param, (list, tuple)) else (param,)):
        if isinstance(sub, jex.core.ClosedJaxpr):
          largest = max(largest, _grouped_conv_patches(sub.jaxpr))
        elif isinstance(sub, jex.core.Jaxpr):
          largest = max(largest, _grouped_conv_patches(sub))
  return largest


class ProgramMemory:
  """The buffers XLA assigns a jitted program at the input sizes it runs at,
  and the patches buffer of its largest grouped convolution.

  args_at(rows, cols) gives its arguments (arrays or jax.ShapeDtypeStruct)
  for an input of rows x cols positions. The program is compiled there on
  first use, not run: the call that follows reuses the compilation.
  """

  def __init__(self, jitted, args_at: Callable[[int, int], tuple]):
    self._jitted, self._args_at = jitted, args_at
    self._sizes: dict[tuple[int, int], tuple[int, int]] = {}

  def _analysis(self, rows: int, cols: int) -> tuple[int, int]:
    """(temporaries and scratch, outputs) in bytes."""
    if (rows, cols) not in self._sizes:
      traced = self._jitted.trace(*self._args_at(rows, cols))
      analysis = traced.lower().compile().memory_analysis()
      jaxpr = traced.jaxpr  # a ClosedJaxpr on older jax
      scratch = _grouped_conv_patches(getattr(jaxpr, "jaxpr", jaxpr))
      self._sizes[rows, cols] = (int(analysis.temp_size_in_bytes) + scratch,
                                 int(analysis.output_size_in_bytes))
    return self._sizes[rows, cols]

  def bytes(self, rows: int = 0, cols: int = 0) -> int:
    """Its temporaries, scratch and outputs at rows x cols input positions."""
    return sum(self._analysis(rows, cols))

  def output_bytes(self, rows: int = 0, cols: int = 0) -> int:
    """Its outputs alone at rows x cols input positions."""
    return self._analysis(rows, cols)[1]


def abstract(shape: tuple[int, ...], dtype) -> jax.ShapeDtypeStruct:
  return jax.ShapeDtypeStruct(tuple(shape), dtype)


def _available() -> tuple[int | None, int | None]:
  """(bytes of available memory, bytes of room under the address-space
  limit), each None where unknown (not Linux, no limit)."""
  try:
    import resource  # pylint: disable=g-import-not-at-top  (Unix only)
    with open("/proc/meminfo") as f:
      fields = dict(line.split(":", 1) for line in f)
    available = int(fields["MemAvailable"].split()[0]) * 1024
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit == resource.RLIM_INFINITY:
      return available, None
    with open("/proc/self/status") as f:
      size = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize"))
    return available, limit - size
  except (ImportError, OSError, KeyError, ValueError, StopIteration):
    return None, None


def check(height: int, width: int, needed: Callable[[], int], max_pixels: int) -> None:
  """Refuses (BitstreamError, one line) a declared height x width over
  max_pixels, naming the size and the limit, or whose decode (`needed()`
  bytes, a Footprint's) cannot fit this machine or process, naming the size
  and the memory. `needed` is called only within max_pixels: a size over the
  limit is refused from the header alone, with no program compiled at it."""
  pixels = height * width
  if pixels > max_pixels:
    raise BitstreamError(
        f"the file declares a {height}x{width} image ({pixels:,} pixels), over this "
        f"decoder's limit of {max_pixels:,} (max_pixels, --max-pixels)")
  need = needed()
  gib = need / 2**30
  available, room = _available()
  problems = []
  if available is not None and need > available:
    problems.append(f"{available / 2**30:.1f} GiB of memory is available")
  if room is not None and ADDRESS_SPACE_PER_BYTE * need > room:
    problems.append(f"the address-space limit (ulimit -v) leaves {room / 2**30:.1f} GiB")
  if problems:
    raise BitstreamError(f"decoding a {height}x{width} image takes about {gib:.1f} GiB, "
                         f"but {' and '.join(problems)}")
