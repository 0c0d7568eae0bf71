"""Strided convolution and its transpose, both 'half padded' as in the papers.

`Conv` downsamples H x W to H/s x W/s with symmetric padding k // 2.
`ConvTranspose` is its adjoint-shaped upsampler (H x W -> sH x sW). It is
defined as `jax.lax.conv_transpose(x, w, (s, s), padding=(lo, hi))` with
lo = k - 1 - k // 2 and hi = s + k - 2 - lo, kernel layout HWIO, no flip, but
*computed* in an exactly equivalent sub-pixel form: output pixel (s*m + r)
only sees the kernel taps of its phase r, so each phase is a stride-1
computation on the input and the phases interleave into the output.
XLA:CPU differentiates `conv_transpose` very slowly (about 70x slower here
for a 5x5, stride 2, 128-channel layer); the sub-pixel forms run at the
speed of ordinary convolutions.

Three exactly equivalent forms are used, each where it measured fastest
on XLA:CPU (`benchmarks/conv_forms.py`, `results/conv_forms.json`; 2 cores,
medians):

- `phase_conv_transpose` (one convolution per phase with exactly its taps:
  25 instead of 36 multiply-adds per pixel for k=5, s=2) for wide outputs,
  in inference and in training: 5x5, stride 2, 128 -> 128 channels on
  8x32x32 takes 19.3 ms forward and 86 ms forward + gradient, against
  69 ms and 5.4 s for `lax.conv_transpose`.
- Narrow outputs (the 3-channel image layer) in inference:
  `scatter_conv_transpose` (one matrix product of every input pixel with
  all k*k taps, then each phase sums its taps' shifted slices): 3.3 ms
  forward at 8x64x64x128 -> 3, against 6.0 ms for the next form; over a
  whole synthesis transform about 7% faster (g_s of bmshj2018 on a Kodak
  image, N=128: 136 ms against 146 ms).
- Narrow outputs under differentiation: `subpixel_conv_transpose` (one
  convolution with the s*s phase kernels zero-padded to a common size,
  then depth-to-space). Autodiff of the scatter form pads each of the k*k
  shifted slices back to the whole products tensor (25x its memory
  traffic for k=5): the quickstart's train step took 3.4x as long with it
  (95.5 ms against 28.3 ms).

`narrow_conv_transpose` joins the last two: a custom VJP whose plain
evaluation is the scatter form and whose evaluation under `jax.grad` is
the sub-pixel form with its own gradient, so decoding and training each get
their fastest form from one layer. (Forward-mode differentiation, jax.jvp,
is not defined for it; nothing here uses it.)

`Conv` of stride s > 1 on a wide input (`strided_conv`) keeps XLA's
convolution forward and weight gradient, but computes the input gradient,
itself a transposed convolution, with `conv_transpose` above: XLA:CPU
computes it as an input-dilated convolution, as slowly as it
differentiates `lax.conv_transpose` (8x64x64, 128 -> 128: forward +
gradient 124 ms, against 74 ms).
"""

import functools
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def conv_transpose_padding(kernel_size: int, stride: int) -> tuple[int, int]:
  """Padding of the dilated input that makes conv_transpose map n to s * n."""
  lo = kernel_size - 1 - kernel_size // 2
  hi = stride + kernel_size - 2 - lo
  return lo, hi


@functools.lru_cache(maxsize=None)
def _phase_taps(kernel_size: int, stride: int, lo: int | None = None) -> tuple[np.ndarray, int]:
  """Kernel index t used by output phase r at input offset d, or -1 for none.

  Output position o = s*m + r receives x[m + d] * w[t] with t = s*d + lo - r,
  lo the padding before the dilated input (default: conv_transpose_padding).
  Returns an int array of shape (stride, num_offsets) and the first offset.
  """
  if lo is None:
    lo, _ = conv_transpose_padding(kernel_size, stride)
  d_min = -((lo) // stride)  # smallest d with t >= 0 for some phase.
  d_max = (kernel_size - 1 + stride - 1 - lo) // stride
  offsets = np.arange(d_min, d_max + 1)
  taps = stride * offsets[None, :] + lo - np.arange(stride)[:, None]
  taps = np.where((taps >= 0) & (taps < kernel_size), taps, -1)
  return taps, int(d_min)


def subpixel_kernel(kernel: jax.Array, stride: int) -> tuple[jax.Array, int]:
  """Rearranges an HWIO transposed-conv kernel into a stride-1 conv kernel.

  Returns a kernel of shape (D, D, C_in, s*s*C_out), output channels ordered
  (phase_row, phase_col, c_out), and the first input offset (negative: the
  left padding of the stride-1 convolution is -d_min).
  """
  k, _, c_in, c_out = kernel.shape
  taps, d_min = _phase_taps(k, stride)
  # Index k selects an appended zero tap for the out-of-range entries.
  padded = jnp.concatenate([kernel, jnp.zeros((1, k, c_in, c_out), kernel.dtype)], 0)
  padded = jnp.concatenate([padded, jnp.zeros((k + 1, 1, c_in, c_out), kernel.dtype)], 1)
  taps = np.where(taps < 0, k, taps)
  # taps: (s, D) -> phase kernels (s_r, D_r, s_c, D_c, C_in, C_out).
  phases = padded[taps[:, :, None, None], taps[None, None, :, :]]
  phases = jnp.transpose(phases, (1, 3, 4, 0, 2, 5))  # (D, D, C_in, s, s, C_out)
  num_offsets = taps.shape[1]
  return phases.reshape(num_offsets, num_offsets, c_in, stride * stride * c_out), d_min


def depth_to_space(x: jax.Array, block: int) -> jax.Array:
  """(B, H, W, b*b*C) with channels ordered (row, col, c) -> (B, bH, bW, C)."""
  b, h, w, c = x.shape
  c_out = c // (block * block)
  x = x.reshape(b, h, w, block, block, c_out)
  x = jnp.transpose(x, (0, 1, 3, 2, 4, 5))
  return x.reshape(b, h * block, w * block, c_out)


def subpixel_conv_transpose(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
  """Equals lax.conv_transpose(x, kernel, (s, s), conv_transpose_padding)."""
  phase_kernel, d_min = subpixel_kernel(kernel, stride)
  num_offsets = phase_kernel.shape[0]
  pad = (-d_min, num_offsets - 1 + d_min)
  y = jax.lax.conv_general_dilated(
      x, phase_kernel, window_strides=(1, 1), padding=(pad, pad),
      dimension_numbers=("NHWC", "HWIO", "NHWC"))
  return depth_to_space(y, stride)


def scatter_conv_transpose(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
  """Equals lax.conv_transpose(x, kernel, (s, s), conv_transpose_padding)."""
  k, _, c_in, c_out = kernel.shape
  taps, d_min = _phase_taps(k, stride)
  b, h, w, _ = x.shape
  # products[b, m, n, t_h, t_w] = x[b, m, n] . kernel[t_h, t_w]
  products = jnp.einsum("bhwi,ito->bhwto", x,
                        kernel.transpose(2, 0, 1, 3).reshape(c_in, k * k, c_out))
  products = products.reshape(b, h, w, k, k, c_out)
  # Output phase r at m sums products[m + d] over offsets d = index + d_min.
  num_offsets = taps.shape[1]
  edge = (-d_min, num_offsets - 1 + d_min)
  products = jnp.pad(products, ((0, 0), edge, edge, (0, 0), (0, 0), (0, 0)))
  rows = []
  for r_h in range(stride):
    cols = []
    for r_w in range(stride):
      cols.append(sum(products[:, a:a + h, c:c + w, taps[r_h, a], taps[r_w, c]]
                      for a in range(num_offsets) for c in range(num_offsets)
                      if taps[r_h, a] >= 0 and taps[r_w, c] >= 0))
    rows.append(jnp.stack(cols, axis=3))       # (B, H, W, s_w, C)
  y = jnp.stack(rows, axis=2)                  # (B, H, s_h, W, s_w, C)
  return y.reshape(b, h * stride, w * stride, c_out)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def narrow_conv_transpose(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
  """Equals lax.conv_transpose(x, kernel, (s, s), conv_transpose_padding):
  the scatter form when evaluated, the sub-pixel form when differentiated."""
  return scatter_conv_transpose(x, kernel, stride)


def _narrow_forward(x, kernel, stride):
  # The residual is the sub-pixel form's own VJP (a pytree of arrays).
  return jax.vjp(functools.partial(subpixel_conv_transpose, stride=stride), x, kernel)


def _narrow_backward(stride, subpixel_vjp, grad):
  del stride  # bound in the residual
  return subpixel_vjp(grad)


narrow_conv_transpose.defvjp(_narrow_forward, _narrow_backward)


def phase_conv_transpose(x: jax.Array, kernel: jax.Array, stride: int,
                         padding: tuple[int, int] | None = None,
                         groups: int = 1) -> jax.Array:
  """Equals lax.conv_transpose(x, kernel, (s, s), (padding, padding)); padding
  (lo, hi) of the dilated input defaults to conv_transpose_padding (n -> s*n).
  Any other padding gives (n - 1) * s + lo + hi - k + 2 outputs per side
  (PyTorch's ConvTranspose2d of padding p: lo = hi = k - 1 - p).

  groups > 1: a grouped transposed convolution (kernel (k, k, C_in / groups,
  C_out), as lax.conv's feature_group_count), e.g. depthwise with groups =
  C_in; each phase is then a grouped stride-1 convolution."""
  k = kernel.shape[0]
  lo, hi = padding or conv_transpose_padding(k, stride)
  taps, d_min = _phase_taps(k, stride, lo)
  if np.any(np.all(taps < 0, axis=1)):
    raise ValueError(f"a {k}x{k} kernel leaves phases of stride {stride} empty")
  sizes = [(n - 1) * stride + lo + hi - k + 2 for n in x.shape[1:3]]
  # Each phase computes ceil(size / s) outputs; the interleaved rows and
  # columns past `sizes` are cut off at the end.
  phase_sizes = [-(-size // stride) for size in sizes]
  rows = []
  for r_h in range(stride):
    cols = []
    for r_w in range(stride):
      valid_h, valid_w = np.nonzero(taps[r_h] >= 0)[0], np.nonzero(taps[r_w] >= 0)[0]
      phase_kernel = kernel[taps[r_h][valid_h]][:, taps[r_w][valid_w]]
      # Input offsets d = index + d_min; pad (a cut where negative) so that
      # output m reads x[m + d].
      pad = tuple((-(valid[0] + d_min), m - n + valid[-1] + d_min)
                  for valid, m, n in zip((valid_h, valid_w), phase_sizes, x.shape[1:3]))
      cols.append(jax.lax.conv_general_dilated(
          x, phase_kernel, (1, 1), pad, dimension_numbers=("NHWC", "HWIO", "NHWC"),
          feature_group_count=groups))
    rows.append(jnp.stack(cols, axis=3))       # (B, H, W, s_w, C)
  y = jnp.stack(rows, axis=2)                  # (B, H, s_h, W, s_w, C)
  b, h, _, w, _, c = y.shape
  return y.reshape(b, h * stride, w * stride, c)[:, :sizes[0], :sizes[1]]


# Transposed convolutions with at least this many output channels are
# computed one phase at a time, narrower ones with narrow_conv_transpose
# (measured on XLA:CPU, see the module docstring).
PHASE_SPLIT_MIN_FEATURES = 16


def conv_transpose(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
  """Equals lax.conv_transpose(x, kernel, (s, s), conv_transpose_padding), in
  the fastest exact form for its width."""
  if kernel.shape[-1] >= PHASE_SPLIT_MIN_FEATURES:
    return phase_conv_transpose(x, kernel, stride)
  return narrow_conv_transpose(x, kernel, stride)


_DIMENSIONS = ("NHWC", "HWIO", "NHWC")


def _conv(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
  pad = kernel.shape[0] // 2
  return jax.lax.conv_general_dilated(x, kernel, (stride, stride), ((pad, pad), (pad, pad)),
                                      dimension_numbers=_DIMENSIONS)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def strided_conv(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
  """k x k convolution, stride s, padding k // 2 (lax.conv_general_dilated),
  whose input gradient is computed as the transposed convolution it is
  (conv_transpose; see the module docstring)."""
  return _conv(x, kernel, stride)


def _strided_conv_forward(x, kernel, stride):
  return _conv(x, kernel, stride), (x, kernel)


def _strided_conv_backward(stride, residuals, grad):
  x, kernel = residuals
  # y[o] = sum_t x[s*o + t - k//2] kernel[t], so x's gradient at i collects
  # grad[o] kernel[t]^T over s*o + t - k//2 = i: the transposed convolution
  # of grad by the flipped kernel with its channels swapped, whose padding
  # (conv_transpose_padding: lo = k - 1 - k//2) gives s * ceil(n / s) >= n
  # rows, cropped to x's n.
  flipped = jnp.flip(kernel, (0, 1)).transpose(0, 1, 3, 2)
  d_x = conv_transpose(grad, flipped, stride)[:, :x.shape[1], :x.shape[2]]
  _, kernel_vjp = jax.vjp(lambda w: _conv(x, w, stride), kernel)
  return d_x, kernel_vjp(grad)[0]


strided_conv.defvjp(_strided_conv_forward, _strided_conv_backward)


class _ConvParams(nn.Module):
  """The parameters of flax's nn.Conv (same names, shapes and initializers,
  so checkpoints and coding tables are unchanged), applied by strided_conv."""

  features: int
  kernel_size: int
  stride: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k = self.kernel_size
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (k, k, x.shape[-1], self.features))
    bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
    # XLA differentiates stride 1 well, and the input gradient of a narrow
    # input (the image layer's, which training does not compute) no faster
    # in the transposed form (benchmarks/conv_forms.py).
    if self.stride == 1 or x.shape[-1] < PHASE_SPLIT_MIN_FEATURES:
      return _conv(x, kernel, self.stride) + bias
    return strided_conv(x, kernel, self.stride) + bias


class Conv(nn.Module):
  """k x k convolution with stride s and symmetric padding k // 2."""

  features: int
  kernel_size: int = 5
  stride: int = 2

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return _ConvParams(self.features, self.kernel_size, self.stride, name="conv")(x)


class ConvTranspose(nn.Module):
  """k x k transposed convolution, H x W -> sH x sW, in an equivalent fast form."""

  features: int
  kernel_size: int = 5
  stride: int = 2
  kernel_init: Callable = nn.initializers.lecun_normal()
  # (lo, hi) padding of the dilated input, for output sizes other than s*n
  # (see phase_conv_transpose); None: 'half padded', n -> s*n.
  padding: tuple[int, int] | None = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k = self.kernel_size
    kernel = self.param("kernel", self.kernel_init,
                        (k, k, x.shape[-1], self.features))
    bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
    if self.padding is not None:
      return phase_conv_transpose(x, kernel, self.stride, self.padding) + bias
    return conv_transpose(x, kernel, self.stride) + bias
