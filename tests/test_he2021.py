"""He 2021: the checkerboard context's mask and two steps, exact evaluation,
the batches of a long step, real files at the estimated rate."""

import os

import numpy as np
import pytest

from test_mbt2018 import codec_of, dependencies
from lic_jax import image as image_lib
from lic_jax.assets import QUICKSTART_IMAGES
from lic_jax.coding import latent_codecs
from lic_jax.coding.latent_codecs import CheckerboardOrder, checkerboard_anchors
from lic_jax.layers import checkerboard_mask


def _image(h: int, w: int) -> np.ndarray:
  path = os.path.join(QUICKSTART_IMAGES, "kodim23_crop256.png")
  return image_lib.read_rgb_uint8(path)[:h, :w]


def test_the_mask_keeps_the_12_taps_of_the_other_colour():
  mask = checkerboard_mask(5)
  rows, cols = np.nonzero(mask)
  assert mask.sum() == 12 and np.all((rows + cols - 4) % 2 == 1)
  assert mask[2, 1] == mask[1, 2] == mask[2, 3] == mask[3, 2] == 1 and mask[2, 2] == 0


def test_two_steps_cover_every_position_once_anchors_first():
  steps = CheckerboardOrder().steps(32, 48)  # a 768 x 512 image
  assert len(steps) == 2 and [len(rows) for rows, _ in steps] == [768, 768]
  visited = [(i, j) for rows, cols in steps for i, j in zip(rows, cols)]
  assert sorted(visited) == [(i, j) for i in range(32) for j in range(48)]
  (anchor_rows, anchor_cols), _ = steps
  assert np.all((anchor_rows + anchor_cols) % 2 == 0)
  assert checkerboard_anchors(3, 3).sum() == 5


def test_anchors_have_no_context_and_the_rest_see_exactly_their_anchors():
  """The float model's dependencies: an anchor's parameters depend on no
  y~, a non-anchor's on the anchors under the mask and nothing else; so
  the positions of one step never depend on each other."""
  h, w = 7, 9
  deps = dependencies("he2021", h, w)
  anchors = checkerboard_anchors(h, w).ravel()
  mask = checkerboard_mask(5)
  for q in range(h * w):
    i, j = divmod(q, w)
    expected = set() if anchors[q] else {
        (i + di) * w + (j + dj) for di in range(-2, 3) for dj in range(-2, 3)
        if mask[di + 2, dj + 2] and 0 <= i + di < h and 0 <= j + dj < w}
    assert set(np.nonzero(deps[q])[0]) == expected, (i, j)
  assert all(anchors[p] for p in np.nonzero(deps.any(axis=0))[0])


def test_evaluation_is_the_coders_two_passes():
  """The float model's evaluation computes the anchors' y~ first, as the
  coder does: its y~ is the coded one wherever the fixed-point means round
  alike, and its estimated rate is the coded latents' within 0.5%."""
  codec = codec_of("he2021")
  img = _image(128, 192)
  (_, encoded), = codec.encode_with_latents(img[None])
  model, params = codec.model, codec.impl.params
  x = (img / 255.0).astype(np.float32)[None]

  def evaluate(m, x):
    y = m.analysis(x)
    hyper, z_hat, _ = m.hyperprior(y, False)
    y_hat, _ = m.context_latent(y, hyper, False)
    return y_hat, m.coded_bits(y_hat, z_hat)

  y_hat, bits = model.apply({"params": params}, x, method=evaluate)
  close = np.abs(np.asarray(y_hat)[0] - encoded["y_hat"]) < 0.01
  assert close.mean() > 0.999, close.mean()
  coded_bits = model.apply({"params": params}, encoded["y_hat"][None],
                           (encoded["z"] + codec.impl.hyper.z.medians)[None].astype(np.float32),
                           method=model.coded_bits)
  assert abs(float(bits[0]) / float(coded_bits[0]) - 1) < 0.005


@pytest.mark.parametrize("name", ["mbt2018", "he2021"])
def test_a_step_coded_in_batches_gives_the_same_file(name, monkeypatch):
  """MAX_BATCH bounds a step's batch (a checkerboard step is half the
  image): the batches of one step see only earlier steps, so the file and
  its decode are the same with batches of 3 positions."""
  codec = codec_of(name)
  img = _image(64, 320)  # y: 4 x 20, steps of up to 4 (mbt2018) or 40 (he2021) positions
  data = codec.compress(img)
  decoded = codec.decompress(data)
  monkeypatch.setattr(latent_codecs, "MAX_BATCH", 3)
  assert codec.compress(img) == data
  np.testing.assert_array_equal(codec.decompress(data), decoded)
