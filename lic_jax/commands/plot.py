r"""Rate-distortion plots from CompressAI-schema results files, and training
curves of run directories.

  python -m lic_jax plot results/kodak/*.json ../shared/reference/kodak/jpeg.json \
      --output results/kodak_rd.png [--metric psnr-rgb|ms-ssim-rgb|both]
  python -m lic_jax plot --run runs/cifar10_resnet --output curves.png

What it does and how: lic_jax.plot.
"""

import argparse

from lic_jax import cli


def parser() -> argparse.ArgumentParser:
  """The command's arguments."""
  parser = argparse.ArgumentParser(prog="python -m lic_jax plot",
                                   description=cli.summary(__doc__))
  parser.add_argument("results", nargs="*", help="CompressAI-schema JSON files")
  parser.add_argument("--run", default="",
                      help="a run directory: plot its training curves instead")
  parser.add_argument("--output", required=True, help=".png, .svg or .pdf")
  parser.add_argument("--metric", default="psnr-rgb",
                      choices=["psnr-rgb", "ms-ssim-rgb", "both"],
                      help="the quality axis (default %(default)s)")
  parser.add_argument("--title", default="", help="the figure's title (default: none)")
  parser.add_argument("--max-bpp", type=float, default=None,
                      help="right end of the rate axis (default: the largest rate)")
  return parser


def main(argv=None) -> None:
  cli.run_parsed(parser(), "lic_jax.plot", argv)


if __name__ == "__main__":
  main()
