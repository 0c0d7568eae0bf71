"""Log-det coding rates of a set of vectors (Ma et al. 2007; Yu et al. 2020's
MCR^2; Chamain, Qi & Ding's grouped bound under quantization noise).

The paper writes the m samples as the columns of Z (d x m). Here a batch is
laid out as every array in lic_jax is, one sample per row: `z` is (m, d),
Z = z^T, so Z Z^T = z^T z and Z Pi_j Z^T = z^T diag(pi_j) z = (z * pi_j)^T z.
The memberships are never an m x m matrix: pi is (m, k), column j the
diagonal of Pi_j.

    r(Z | eps)       = 1/2 log2 det(I + d / (m eps^2) Z Z^T)                      (2)
    r^c(Z | eps, Pi) = sum_j tr(Pi_j) / (2m) log2 det(I + d / (tr(Pi_j) eps^2)
                                                     Z Pi_j Z^T)                  (3)
    Delta r          = r(Z | eps) - r^c(Z | eps, Pi)                              (4)

Under uniform quantization noise instead of Gaussian noise of the same
distortion eps, each adds d/2 log2(2 pi e / 12) bits (Eq. 9 and 10). All are
bits per sample.

Every log-determinant is of I + a Z W Z^T (W = diag(w) >= 0), computed by
Cholesky in whichever of its d x d and m x m forms is smaller: by
det(I_d + A B) = det(I_m + B A), det(I_d + a Z W Z^T) = det(I_m + a W^1/2
Z^T Z W^1/2). The gradient is written out (`logdet_weighted`): autodiff
through W^1/2 would divide by zero for a sample outside a group (w_i = 0),
where the true derivative, a z_i^T K^-1 z_i with K = I + a Z W Z^T, is finite.
"""

import functools
import math

import jax
import jax.numpy as jnp

# d/2 log2(2 pi e / 12): Eq. 9's extra bits per dimension are half of this.
UNIFORM_NOISE_BITS = math.log2(2 * math.pi * math.e / 12)


def _cholesky_logdet(matrix: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(log det, Cholesky factor) of a symmetric positive definite matrix."""
  factor = jnp.linalg.cholesky(matrix)
  return 2.0 * jnp.sum(jnp.log(jnp.diagonal(factor))), factor


def _logdet_and_quadratic(z: jax.Array, w: jax.Array, a: jax.Array):
  """(log det K, z K^-1, q) with K = I_d + a z^T diag(w) z and q_i = z_i^T K^-1 z_i,
  through the smaller of the two forms."""
  m, d = z.shape
  if d <= m:
    logdet, factor = _cholesky_logdet(jnp.eye(d, dtype=z.dtype) + a * (z * w[:, None]).T @ z)
    zk = jax.scipy.linalg.cho_solve((factor, True), z.T).T
  else:
    # Woodbury: K^-1 = I - a Z^T W^1/2 M^-1 W^1/2 Z, M = I_m + a W^1/2 Z Z^T W^1/2,
    # so z K^-1 = (I - a G W^1/2 M^-1 W^1/2) z with G = z z^T.
    root = jnp.sqrt(w)
    gram = z @ z.T
    logdet, factor = _cholesky_logdet(jnp.eye(m, dtype=z.dtype)
                                      + a * root[:, None] * gram * root[None, :])
    inner = root[:, None] * jax.scipy.linalg.cho_solve((factor, True), jnp.diag(root))
    zk = z - a * gram @ (inner @ z)
  return logdet, zk, jnp.sum(zk * z, axis=1)


@jax.custom_vjp
def logdet_weighted(z: jax.Array, w: jax.Array, a: jax.Array) -> jax.Array:
  """ln det(I + a Z diag(w) Z^T) for rows z (m, d), weights w (m,) >= 0 and a
  scalar a >= 0 (natural log; see the module docstring for the form)."""
  return _logdet_and_quadratic(z, w, a)[0]


def _logdet_forward(z, w, a):
  logdet, zk, q = _logdet_and_quadratic(z, w, a)
  return logdet, (zk, q, w, a)


def _logdet_backward(residuals, g):
  # d/dz = 2a diag(w) z K^-1, d/dw_i = a z_i^T K^-1 z_i, d/da = sum_i w_i q_i.
  zk, q, w, a = residuals
  return g * 2.0 * a * w[:, None] * zk, g * a * q, g * jnp.sum(w * q)


logdet_weighted.defvjp(_logdet_forward, _logdet_backward)


def _check(z: jax.Array) -> tuple[int, int]:
  if z.ndim != 2:
    raise ValueError(f"expected a batch of vectors (m, d), got shape {z.shape}")
  return z.shape


def coding_rate(z: jax.Array, eps: jax.Array, quantization: bool = False) -> jax.Array:
  """r(Z | eps) in bits per sample: Eq. 2, or Eq. 9 with `quantization`."""
  m, d = _check(z)
  rate = logdet_weighted(z, jnp.ones(m, z.dtype), d / (m * eps**2)) / (2 * math.log(2))
  return rate + (d / 2 * UNIFORM_NOISE_BITS if quantization else 0.0)


def grouped_coding_rate(z: jax.Array, eps: jax.Array, memberships: jax.Array,
                        quantization: bool = False) -> jax.Array:
  """r^c(Z | eps, Pi) in bits per sample: Eq. 3, or Eq. 10 with `quantization`.

  memberships: (m, k), pi_ij >= 0 with rows summing to 1 (soft or one-hot).
  An empty group (tr(Pi_j) = 0) contributes nothing.
  """
  m, d = _check(z)
  if memberships.ndim != 2 or memberships.shape[0] != m:
    raise ValueError(f"memberships must be (m, k) = ({m}, k) for {m} samples, got "
                     f"{memberships.shape}")
  sizes = jnp.sum(memberships, axis=0)
  # The tiny floor keeps an empty group's a finite; its weights are all zero,
  # so its log det is 0 whatever a is.
  a = d / (jnp.maximum(sizes, 1e-12) * eps**2)
  logdets = jax.vmap(logdet_weighted, in_axes=(None, 1, 0))(z, memberships, a)
  rate = jnp.sum(sizes * logdets) / (2 * m * math.log(2))
  return rate + (d / 2 * UNIFORM_NOISE_BITS if quantization else 0.0)


def rate_reduction(z: jax.Array, eps: jax.Array, memberships: jax.Array) -> jax.Array:
  """Delta r(Z | eps, Pi) = r(Z | eps) - r^c(Z | eps, Pi), Eq. 4 (MCR^2)."""
  return coding_rate(z, eps) - grouped_coding_rate(z, eps, memberships)


@functools.partial(jax.jit, static_argnames=("groups", "quantization"))
def grouped_coding_rate_of_labels(z: jax.Array, eps: jax.Array, labels: jax.Array,
                                  groups: int, quantization: bool = False) -> jax.Array:
  """r^c with hard memberships: sample i in group labels[i] (of `groups`)."""
  return grouped_coding_rate(z, eps, jax.nn.one_hot(labels, groups, dtype=z.dtype),
                             quantization)
