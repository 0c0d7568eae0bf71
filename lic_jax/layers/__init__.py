"""Neural network layers of the transforms: GDN/IGDN and strided convolutions."""

from lic_jax.layers.bounds import lower_bound
from lic_jax.layers.conv import Conv, ConvTranspose, narrow_conv_transpose
from lic_jax.layers.gdn import GDN, IGDN
from lic_jax.layers.masked_conv import (MaskedConv, causal_offsets, checkerboard_mask,
                                        context_mask, raster_mask)
from lic_jax.layers.rounding import ste_round

__all__ = ["GDN", "IGDN", "Conv", "ConvTranspose", "MaskedConv", "causal_offsets",
           "checkerboard_mask", "context_mask", "lower_bound", "narrow_conv_transpose",
           "raster_mask", "ste_round"]
