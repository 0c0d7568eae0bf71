r"""Learned grouping (Chamain, Qi & Ding): rate-accuracy curves with real
bitstreams, and coding single images with a trained model's profiles.

  # train every point of a sweep (resumable), code its test set, write the
  # curves with the bound beside the actual rate, plot them
  python -m lic_jax grouping sweep --config configs/grouping/cifar_sweep.py
  # the comparison and the plot again, from the sweep's results file
  python -m lic_jax grouping report --config configs/grouping/cifar_sweep.py
  # source: one image's latent with its profile; receiver: classify it
  python -m lic_jax grouping encode --run RUN image.png -o image.lic
  python -m lic_jax grouping classify --run RUN image.lic

A point is evaluated on its config's test split: every image is coded to a
file (lic_jax.grouping.codec), decoded and classified from the decoded
symbols. Reported per point: accuracy, the actual bpp (stream bits / pixels,
the profile index included; file_bpp adds the header), the bound of Eq. 10
on the test set's latents with the coder's hard memberships (j = argmax)
and with the head's soft ones, Eq. 9's bound without grouping on the same
latents, the profiles' estimated bpp (their densities, before freezing),
and how many profiles the test images use.
"""

from absl import flags
from ml_collections import config_flags

from lic_jax import cli

if __name__ == "__main__":
  flags.DEFINE_string("run", "", "encode/classify: the model's run directory.")
  flags.DEFINE_string("output", None, "encode: the .lic file to write.", short_name="o")
  flags.DEFINE_bool("force", False, "encode: overwrite an existing output.")
  config_flags.DEFINE_config_file("config", None, "sweep/report: a sweep config "
                                  "(configs/grouping/*_sweep.py).", lock_config=True)
  cli.run_module("lic_jax.grouping.cli")
