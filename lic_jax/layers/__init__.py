"""Neural network layers of the transforms: GDN/IGDN and strided convolutions."""

from lic_jax.layers.bounds import lower_bound
from lic_jax.layers.conv import Conv, ConvTranspose, subpixel_conv_transpose
from lic_jax.layers.gdn import GDN, IGDN

__all__ = ["Conv", "ConvTranspose", "GDN", "IGDN", "lower_bound",
           "subpixel_conv_transpose"]
