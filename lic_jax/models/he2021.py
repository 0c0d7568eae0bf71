"""He, Zheng, Sun, Wang & Qin (2021): checkerboard context model for efficient
learned image compression, on Minnen et al.'s mean-scale hyperprior (the
paper's main anchor, "Minnen 2018 + checkerboard").

The latents are split into anchors and non-anchors like the squares of a
checkerboard (anchors: (i + j) even). The Gaussian parameters of y_i are

    (sigma_i, mu_i) = e(h_s(z~)_i, 0)                    i an anchor
    (sigma_i, mu_i) = e(h_s(z~)_i, c(y~_anchors)_i)      otherwise

with c a 5x5 convolution masked to the taps at odd offsets (He et al.,
Fig. 4): from a non-anchor these are all anchors. Decoding therefore takes
two passes of e over the whole latent (anchors, then the rest) instead of
mbt2018's one per wavefront step (141 for a Kodak image).

Everything else is mbt2018's: g_a, g_s, h_a, h_s, e (1x1 convolutions of
widths 10M/3, 8M/3) and the training objective. In training one noisy y~
feeds c, the likelihood and g_s (the paper's single pass); evaluation and
the codec compute the anchors' y~ first, exactly as the decoder does (see
lic_jax.coding.latent_codecs.CheckerboardLatent).

Departure from the paper: c has no bias, so that an anchor's context is 0
in the integer codec as in the float model (the codec computes it before
any latent is coded); a bias would only add a constant to e's first layer
at the non-anchors.
"""

from typing import ClassVar

from lic_jax.coding.latent_codecs import CheckerboardLatent, ContextLatent
from lic_jax.models.mbt2018 import JointAutoregressiveHierarchicalPriors


class CheckerboardContextHierarchicalPriors(JointAutoregressiveHierarchicalPriors):
  """mbt2018 with the checkerboard context. Attributes: mbt2018's (N, M, the
  hidden widths of e, the context's kernel size)."""

  context_latent_type: ClassVar[type[ContextLatent]] = CheckerboardLatent
