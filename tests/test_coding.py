"""Real bitstreams: exact round trips (also across processes), rate vs estimate,
the integer h_s, the file format and hostile input."""

import dataclasses
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from conftest import ROOT
from test_integer_network import int64_network
from lic_jax import image as image_lib
from lic_jax.assets import QUICKSTART_IMAGES
from lic_jax.codec import TABLES_FILE, Codec
from lic_jax.coding import container, fuzz, integer_network
from lic_jax.coding.model_codecs import Banded
from lic_jax.coding.container import BitstreamError
from lic_jax.models import build_model
from lic_jax.train import train

TINY = {"num_filters": 16, "num_latents": 24}


def _random_codec(name: str, seed: int = 0, **widths) -> Codec:
  spec = {"name": name, **TINY, **widths}
  model = build_model(**spec)
  params = model.init({"params": jax.random.PRNGKey(seed), "noise": jax.random.PRNGKey(1)},
                      np.zeros((1, 64, 64, 3), np.float32), training=True)["params"]
  return Codec.from_params(spec, params)


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory):
  """Tiny bls2017 and bmshj2018 trained briefly on the quickstart crops, on disk."""
  from conftest import load_config  # pylint: disable=g-import-not-at-top

  runs = {}
  for name in ("bls2017", "bmshj2018"):
    config = load_config("quickstart")
    config.model.name = name
    config.model.num_filters, config.model.num_latents = 16, 24
    config.data.crop_size, config.data.batch_size = 64, 4
    config.num_steps, config.checkpoint_every = 150, 150
    config.eval.directory, config.quiet = "", True
    runs[name] = str(tmp_path_factory.mktemp(name))
    train(config, runs[name])
  return runs


@pytest.fixture(scope="module")
def trained_run(trained_runs):
  return trained_runs["bmshj2018"]


@pytest.fixture(scope="module")
def trained_codec(trained_run):
  return Codec.from_checkpoint(trained_run)


def _image(h: int = 120, w: int = 150) -> np.ndarray:
  path = os.path.join(QUICKSTART_IMAGES, "kodim23_crop256.png")
  return image_lib.read_rgb_uint8(path)[:h, :w]


@pytest.mark.parametrize("name", ["bls2017", "bmshj2018"])
@pytest.mark.parametrize("size", [(1, 1), (65, 3), (120, 150)])
def test_round_trip_is_exact_for_any_size(name, size):
  codec = _random_codec(name)
  img = _image(*size)
  (data, latents), = codec.encode_with_latents(img[None])
  recon, decoded = codec.decode_with_latents(data)
  assert recon.shape == img.shape and recon.dtype == np.float32
  assert set(decoded) == set(latents)
  for key in latents:
    np.testing.assert_array_equal(decoded[key], latents[key])


def test_reconstruction_equals_model_inference(trained_codec):
  img = _image(128, 192)  # a multiple of 64: no padding
  recon = trained_codec.decompress(trained_codec.compress(img))
  out = trained_codec.model.apply({"params": trained_codec.impl.params},
                                  img[None].astype(np.float32) / 255, training=False)
  np.testing.assert_allclose(recon, np.clip(out["x_hat"][0], 0, 1), atol=1e-5)


def test_integer_hyper_synthesis_is_exact_and_close_to_float(trained_codec):
  codec = trained_codec.impl
  hyper = codec.hyper  # the hyperprior's latent codec
  rng = np.random.default_rng(0)
  q_z = rng.integers(-3, 4, (3, 5, 16))
  reference = hyper.parameters(q_z, (12, 20, codec.model.num_latents))
  # The same network on permuted input channels (another summation order)
  # and as a numpy int64 reference: bit-identical integers.
  perm = rng.permutation(16)
  first, *rest = hyper.hyper_synthesis.layers
  permuted = dataclasses.replace(first, kernel=first.kernel[:, :, perm])
  fixed = (q_z << integer_network.FRACTION_BITS) + hyper.z.medians_fixed
  again = integer_network.Network([permuted, *rest])(fixed[:, :, perm])
  np.testing.assert_array_equal(again, reference)
  np.testing.assert_array_equal(int64_network(hyper.hyper_synthesis.layers, fixed), reference)
  # And it computes h_s: the float network agrees to within quantization.
  z_hat = (q_z + hyper.z.medians).astype(np.float32)
  scales = codec.model.apply({"params": codec.params}, z_hat[None],
                             method=lambda m, z: m.hyper_synthesis(z))[0]
  np.testing.assert_allclose(integer_network.from_fixed(reference), scales,
                             atol=0.02, rtol=0.01)


@pytest.mark.parametrize("model", ["bls2017", "bmshj2018"])
def test_decoding_in_another_process_is_bit_exact_and_rates_match(
    trained_runs, kodak_dir, tmp_path, model):
  """All 24 Kodak images, encoded in batches of two, decoded one by one in a
  single-threaded process (benchmarks/roundtrip.py); actual sizes within 1%
  (plus the header) of the estimates."""
  output = tmp_path / "roundtrip.json"
  subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "roundtrip.py"),
                  "--checkpoint", trained_runs[model], "--json", str(output)],
                 cwd=ROOT, check=True, capture_output=True)
  report = json.loads(output.read_text())
  assert report["summary"]["images"] == 24
  assert report["summary"]["bit_exact"] == 24
  for name, r in report["per_image"].items():
    assert abs(r["excess_percent"]) <= 1.0, (name, r)


def test_tables_are_frozen_once_and_stored(trained_run, trained_codec):
  path = os.path.join(trained_run, TABLES_FILE)
  assert os.path.exists(path)
  stamp = os.path.getmtime(path)
  again = Codec.from_checkpoint(trained_run)
  assert again.tables_hash == trained_codec.tables_hash
  assert os.path.getmtime(path) == stamp  # loaded, not rebuilt


def test_tables_of_an_older_layout_are_rebuilt(trained_run, trained_codec, tmp_path):
  """Stored tables of another TABLES_FORMAT (e.g. the float64 integer networks
  of format 1) are never used: a run re-freezes them, an export too."""
  with np.load(os.path.join(trained_run, TABLES_FILE)) as stored:
    arrays = dict(stored)
  arrays["meta/format"] = np.array(1)
  arrays["h_s/0/bias"] = arrays["h_s/0/bias"] + 1  # what an old layout would misread
  run = str(tmp_path / "run")
  shutil.copytree(trained_run, run)
  np.savez(os.path.join(run, TABLES_FILE), **arrays)
  assert Codec.from_checkpoint(run).tables_hash == trained_codec.tables_hash
  exported = str(tmp_path / "exported")
  trained_codec.export(exported)
  np.savez(os.path.join(exported, TABLES_FILE), **arrays)
  assert Codec.load(exported).tables_hash == trained_codec.tables_hash


def test_hostile_headers_raise_clear_errors():
  codec = _random_codec("bmshj2018")
  data = codec.compress(_image(64, 64))
  body = data[:-4]
  with pytest.raises(BitstreamError, match="empty file"):
    codec.decompress(b"")
  with pytest.raises(BitstreamError, match="not a lic_jax file"):
    codec.decompress(b"\x89PNG" + data[4:])
  with pytest.raises(BitstreamError, match="unsupported format version 7"):
    codec.decompress(data[:4] + b"\x07" + data[5:])
  with pytest.raises(BitstreamError, match="checksum mismatch"):
    codec.decompress(data[:-10])
  flipped = bytearray(data)
  flipped[len(data) // 2] ^= 0x10
  with pytest.raises(BitstreamError, match="checksum mismatch"):
    codec.decompress(bytes(flipped))
  # A huge image size with a valid checksum is refused before allocating.
  size_at = 6 + len("bmshj2018") + 16
  huge = body[:size_at] + struct.pack("<II", 10**9, 10**9) + body[size_at + 8:]
  with pytest.raises(BitstreamError, match="implausible image size"):
    codec.decompress(fuzz.with_checksum(huge))
  other = body[:size_at] + struct.pack("<II", 128, 64) + body[size_at + 8:]
  with pytest.raises(BitstreamError, match=r"latent table \[\('z', \(1, 1, 16\)\), .* is not "
                     r"\[\('z', \(2, 1, 16\)\), .*for a 128x64 image"):
    codec.decompress(fuzz.with_checksum(other))
  with pytest.raises(BitstreamError, match="do not add up"):
    codec.decompress(fuzz.with_checksum(body + b"trailing"))


def test_a_file_of_another_model_names_both():
  data = _random_codec("bls2017").compress(_image(64, 64))
  with pytest.raises(BitstreamError, match="^the file was made by another model: 'bls2017', "
                     "where this decoder is 'bmshj2018'$"):
    _random_codec("bmshj2018").decompress(data)
  # The same model of other widths: said so, once (issue 39: the same name
  # twice, with two hashes).
  wider = _random_codec("bls2017", num_filters=24)
  with pytest.raises(BitstreamError, match=r"^the file was made by another model: 'bls2017' "
                     r"with other widths or settings \(config \w+; this decoder's is \w+\)$"):
    wider.decompress(data)
  other_weights = _random_codec("bls2017", seed=5)
  with pytest.raises(BitstreamError, match="tables"):
    other_weights.decompress(data)


@pytest.mark.parametrize("name", ["bls2017", "bmshj2018", "mbt2018_mean", "mbt2018",
                                  "he2021", "ms2020", "cbanet_hp", "cbanet_ar"])
def test_hostile_files_are_refused_or_decode_to_the_declared_size(name):
  """20 attacks of each kind per model (benchmarks/fuzz_codec.py runs
  10,000, each in a process with a time and memory limit); a CBANet's file
  is of its lowest bitrate, through a BAM."""
  codec = _random_codec(name)
  valid = codec.compress(_image(64, 100), **({"rate": 0} if name.startswith("cbanet") else {}))
  codec.max_pixels = 1 << 20  # the large declared sizes are refused, fast
  cases = 20 * len(fuzz.KINDS)
  outcomes = fuzz.fuzz(codec, valid, cases=cases)
  assert outcomes["refused"] + outcomes["decoded"] == cases
  for kind in ("table", "swap", "duplicate", "name"):
    assert outcomes[f"{kind}/refused"] == 20, kind
  # A bitrate field is added, changed or dropped: mostly refused.
  assert outcomes["bitrate/refused"] >= 10
  # The payload attacks reach the range decoder and the transforms.
  assert outcomes["decoded"] >= 20


@pytest.mark.parametrize("name", ["bls2017", "mbt2018"])
def test_large_images_are_transformed_in_bands_that_join_without_seams(name, monkeypatch):
  codec = _random_codec(name)
  analysis, synthesis = codec.impl.analysis, codec.impl.synthesis
  f = synthesis.factor
  rng = np.random.default_rng(0)
  y_hat = rng.normal(0, 4, (1, 45, 3, TINY["num_latents"])).astype(np.float32)
  image = rng.random((1, 45 * f, 3 * f, 3)).astype(np.float32)
  whole = synthesis(y_hat), analysis(image)
  # Bands of MIN_ROWS = 16 latent rows (each computed on 16 + 2 * HALO).
  monkeypatch.setattr(Banded, "BAND_BYTES", 1)
  assert synthesis.band_rows(3) == analysis.band_rows(3) == 16
  banded = synthesis(y_hat), analysis(image)
  assert banded[0].shape == whole[0].shape == image.shape
  assert banded[1].shape == whole[1].shape == y_hat.shape
  for b, w in zip(banded, whole):
    np.testing.assert_allclose(b, w, atol=2e-5 * np.abs(w).max())
  # Without the halo the seams show: the comparison above can fail.
  monkeypatch.setattr(Banded, "HALO", 0)
  for b, w in zip((synthesis(y_hat), analysis(image)), whole):
    assert np.abs(b - w).max() > 1e-3 * np.abs(w).max()


def test_a_decode_that_cannot_fit_the_address_space_limit_is_refused_before_it_starts():
  # Under ulimit -v 3 GB, a 100-byte file declaring an 8192 x 8192 image
  # (within max_pixels) would end in std::bad_alloc (SIGABRT) inside XLA.
  script = """
import resource
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
from lic_jax.codec import Codec
from lic_jax.coding import container
codec = Codec.load()
table = list(codec.latent_shapes(8192, 8192).items())
data = container.pack_fields(codec.name, codec.config_hash, codec.tables_hash, 8192, 8192,
                             table, [b""] * len(table))
try:
  codec.decompress(data)
except container.BitstreamError as e:
  print(e)
"""
  result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  assert re.fullmatch(r"decoding a 8192x8192 image takes about \d\.\d GiB, but .*the "
                      r"address-space limit \(ulimit -v\) leaves \d\.\d GiB\n", result.stdout)


def test_running_out_of_memory_is_a_bitstream_error(monkeypatch):
  codec = _random_codec("bls2017")
  data = codec.compress(_image(64, 64))

  def exhausted(streams, shapes):
    raise MemoryError("Unable to allocate 13.6 GiB")

  monkeypatch.setattr(codec.impl, "decode", exhausted)
  with pytest.raises(BitstreamError, match=r"out of memory decoding a 64x64 image \(about "
                     r"0\.\d GiB needed\)"):
    codec.decompress(data)


def test_latent_tables_other_than_the_models_are_refused():
  codec = _random_codec("mbt2018_mean")
  valid = codec.compress(_image(64, 64))
  header, (z, y) = container.unpack(valid)
  fields = (header.model, header.config_hash, header.tables_hash, 64, 64)
  table = list(header.latent_shapes.items())
  with pytest.raises(BitstreamError, match="latent table .* is not"):
    codec.decompress(container.pack_fields(*fields, table[::-1], [y, z]))
  with pytest.raises(BitstreamError, match="latent 'z' is listed twice"):
    codec.decompress(container.pack_fields(*fields, [table[0], *table], [z, z, y]))
  with pytest.raises(BitstreamError, match="latent table .* is not"):
    codec.decompress(container.pack_fields(*fields, [*table, ("w", (1,))], [z, y, b""]))
  np.testing.assert_array_equal(codec.decompress(container.pack_fields(*fields, table, [z, y])),
                                codec.decompress(valid))


def test_sizes_over_the_limit_are_refused_from_the_header_alone():
  codec = _random_codec("bmshj2018")
  header, streams = container.unpack(codec.compress(_image(64, 64)))
  # A 32 KB-sized file declaring 16383 x 16385 with a table of that size:
  # refused from the header alone, nothing of its size compiled or allocated
  # (a compilation at that size took 0.52 s on jax 0.12 in CI).
  big = container.Header(header.model, header.config_hash, header.tables_hash, 16383, 16385,
                         codec.latent_shapes(16383, 16385))
  start = time.perf_counter()
  with pytest.raises(BitstreamError, match=r"16383x16385 image \(268,435,455 pixels\), over "
                     r"this decoder's limit of 67,108,864 \(max_pixels, --max-pixels\)$"):
    codec.decompress(container.pack(big, streams))
  assert time.perf_counter() - start < 0.1
  codec.max_pixels = 64 * 63
  with pytest.raises(BitstreamError, match="limit of 4,032 "):
    codec.decompress(container.pack(header, streams))


def test_codec_cli_round_trip_and_errors(trained_run, tmp_path):
  src = os.path.join(QUICKSTART_IMAGES, "kodim15_crop256.png")
  lic, png = str(tmp_path / "x.lic"), str(tmp_path / "x.png")
  run = [sys.executable, "-m", "lic_jax", "codec"]
  out = subprocess.run(run + ["compress", src, lic, "--checkpoint", trained_run],
                       cwd=ROOT, capture_output=True, text=True, check=True).stdout
  assert "bpp=" in out and "encode" in out
  out = subprocess.run(run + ["decompress", lic, png, "--checkpoint", trained_run,
                              "--original", src],
                       cwd=ROOT, capture_output=True, text=True, check=True).stdout
  assert "PSNR=" in out and "decode" in out
  assert image_lib.read_rgb_uint8(png).shape == (256, 256, 3)
  result = subprocess.run(run + ["decompress", lic, str(tmp_path / "y.png"), "--checkpoint",
                                 trained_run, "--max-pixels", "60000"],
                          cwd=ROOT, capture_output=True, text=True)
  assert result.returncode == 1 and result.stderr.strip().splitlines()[-1].startswith(
      "error: the file declares a 256x256 image (65,536 pixels), over this decoder's limit "
      "of 60,000 (max_pixels, --max-pixels)")
  assert "Traceback" not in result.stderr and not os.path.exists(tmp_path / "y.png")
  with open(lic, "rb") as f:
    data = f.read()
  with open(lic, "wb") as f:
    f.write(data[: len(data) // 2])
  result = subprocess.run(run + ["decompress", lic, png, "--checkpoint", trained_run],
                          cwd=ROOT, capture_output=True, text=True)
  assert result.returncode == 1 and f"output {png!r} exists; --force overwrites it" in result.stderr
  result = subprocess.run(run + ["decompress", lic, png, "--checkpoint", trained_run, "--force"],
                          cwd=ROOT, capture_output=True, text=True)
  assert result.returncode != 0 and "checksum mismatch" in result.stderr
  assert "Traceback" not in result.stderr
  result = subprocess.run(run + ["compress", src, lic, "--checkpoint", str(tmp_path), "--force"],
                          cwd=ROOT, capture_output=True, text=True)
  assert result.returncode != 0 and "not a lic_jax run directory" in result.stderr


def test_eval_real_bitstream_reports_actual_and_estimated_rates(trained_run, tmp_path):
  output = tmp_path / "real.json"
  subprocess.run([sys.executable, "-m", "lic_jax", "eval", "--checkpoint", trained_run,
                  "--data", QUICKSTART_IMAGES, "--real-bitstream", "--max-images", "2",
                  "--output", str(output)], cwd=ROOT, check=True, capture_output=True)
  doc = json.loads(output.read_text())
  results = doc["results"]
  assert set(results) >= {"bpp", "bpp_estimated", "psnr-rgb", "encoding_time",
                          "decoding_time"}
  for name, r in doc["images"].items():
    h, w = image_lib.read_rgb_uint8(os.path.join(QUICKSTART_IMAGES, name)).shape[:2]
    data = Codec.from_checkpoint(trained_run).compress(
        image_lib.read_rgb_uint8(os.path.join(QUICKSTART_IMAGES, name)))
    assert r["bpp"] == pytest.approx(8 * len(data) / (h * w))
    assert r["encoding_time"] > 0 and r["decoding_time"] > 0


def test_header_round_trip():
  header = container.Header("bls2017", b"12345678", b"abcdefgh", 7, 9,
                            {"y": (1, 1, 4)})
  parsed, streams = container.unpack(container.pack(header, [b"xyz"]))
  assert parsed == header and streams == [b"xyz"]
  assert json.dumps(parsed.latent_shapes) == '{"y": [1, 1, 4]}'


def test_tables_hash_reads_the_header_alone():
  """What the decoder picks a level by: the header's hash, refused as unpack
  refuses a foreign or truncated head; the checksum is left to unpack."""
  header = container.Header("bmshj2018", b"12345678", b"abcdefgh", 7, 9, {"y": (1, 1, 4)})
  data = container.pack(header, [b"xyz"])
  assert container.tables_hash(data) == b"abcdefgh"
  assert container.tables_hash(data[:-1]) == b"abcdefgh"  # bad CRC: unpack's to refuse
  for bad, message in [(b"", "magic"), (b"PNG\x89" + data[4:], "not a lic_jax file"),
                       (data[:4] + b"\x07" + data[5:], "unsupported format version 7"),
                       (data[:20], "truncated file: model name")]:
    with pytest.raises(container.BitstreamError, match=message):
      container.tables_hash(bad)


def test_exported_model_codes_identically_and_loads_alone(trained_run, tmp_path):
  """`codec export` writes a directory that codes bit-identically to the run."""
  from lic_jax.commands import codec as codec_command  # pylint: disable=g-import-not-at-top

  exported = str(tmp_path / "exported")
  codec_command.main(["export", "--checkpoint", trained_run, "--output", exported])
  assert sorted(os.listdir(exported)) == ["coding_tables.npz", "model.json", "params.msgpack"]
  original, loaded = Codec.from_checkpoint(trained_run), Codec.load(exported)
  assert loaded.metadata["training_steps"] == 150 and loaded.tables_hash == original.tables_hash
  img = _image()
  data = original.compress(img)
  assert loaded.compress(img) == data
  np.testing.assert_array_equal(loaded.decompress(data), original.decompress(data))
  with pytest.raises(FileNotFoundError, match="not an exported model"):
    os.remove(os.path.join(exported, "params.msgpack"))
    Codec.from_exported(exported)


def test_bundled_quality_levels_are_listed_chosen_and_found_by_the_decoder(tmp_path):
  from lic_jax import codec as codec_lib  # pylint: disable=g-import-not-at-top
  from lic_jax.assets import DEFAULT_MODEL  # pylint: disable=g-import-not-at-top

  levels = codec_lib.quality_levels()
  assert list(levels) == [1, 2, 3, 4, 5] and levels[3] == DEFAULT_MODEL
  metas = [codec_lib.level_metadata(levels[q]) for q in levels]
  # The stored Kodak points (24 images, real files) rise in rate and PSNR
  # with the quality, and so do the lambdas.
  for key in ("bpp", "psnr"):
    values = [m["evaluation"][key] for m in metas]
    assert values == sorted(values) and len(set(values)) == 5, (key, values)
  assert all(m["evaluation"]["images"] == 24 for m in metas)
  assert [m["lambda"] for m in metas] == sorted(m["lambda"] for m in metas)
  total = sum(os.path.getsize(os.path.join(d, f)) for d in levels.values() for f in os.listdir(d))
  assert total < 32 * 2**20
  run = [sys.executable, "-m", "lic_jax", "codec"]
  listing = subprocess.run(run + ["models"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.splitlines()
  assert "5 quality levels" in listing[0] and listing[5].endswith("(default)")
  # --quality picks the level; decompress finds each file's level itself.
  source = os.path.join(QUICKSTART_IMAGES, "kodim23_crop256.png")
  sizes = {}
  for quality in (1, 5):
    out = tmp_path / "lic" / f"q{quality}.lic"
    out.parent.mkdir(exist_ok=True)
    subprocess.run(run + ["compress", source, str(out), "--quality", str(quality)], check=True,
                   cwd=ROOT, capture_output=True)
    sizes[quality] = out.stat().st_size
  assert sizes[1] < sizes[5] / 2
  result = subprocess.run(run + ["decompress", str(tmp_path / "lic"), str(tmp_path / "out")],
                          cwd=ROOT, capture_output=True, text=True)
  assert result.returncode == 0, result.stderr
  for quality in (1, 5):
    decoded = image_lib.read_rgb_uint8(str(tmp_path / "out" / f"q{quality}.png"))
    expected = Codec.load(quality=quality).decompress((tmp_path / "lic" / f"q{quality}.lic")
                                                      .read_bytes())
    np.testing.assert_array_equal(decoded, image_lib.to_uint8(expected))
  # Decoding with a level that did not write the file is refused, naming the
  # level that did (issue 39: it named two tables hashes).
  result = subprocess.run(run + ["decompress", str(tmp_path / "lic" / "q1.lic"),
                                 str(tmp_path / "x.png"), "--quality", "2"],
                          cwd=ROOT, capture_output=True, text=True)
  assert result.returncode == 1 and result.stderr.strip().splitlines() == [
      "error: this file was written by quality 1: decode it with --quality 1, or without "
      "--quality"]
  with pytest.raises(BitstreamError, match=r"coded with other coding tables \(\w+\) than "
                     r"this decoder's \(\w+\): another checkpoint or quality level of "
                     r"'bmshj2018'"):
    Codec.load(quality=2).decompress((tmp_path / "lic" / "q1.lic").read_bytes())
  result = subprocess.run(run + ["compress", source, str(tmp_path / "y.lic"), "--quality", "9"],
                          cwd=ROOT, capture_output=True, text=True)
  assert result.returncode == 1 and result.stderr.strip().splitlines()[-1].startswith(
      "error: quality 9 does not exist in ")


def test_bundled_model_is_the_default_and_compresses_kodak_usefully(kodak_dir, tmp_path,
                                                                    without_tensorflow):
  """`codec compress IN OUT` with no checkpoint uses the packaged model, and
  needs no TensorFlow."""
  from lic_jax.assets import DEFAULT_MODEL  # pylint: disable=g-import-not-at-top

  assert os.path.exists(os.path.join(DEFAULT_MODEL, "params.msgpack"))
  size = sum(os.path.getsize(os.path.join(DEFAULT_MODEL, f)) for f in os.listdir(DEFAULT_MODEL))
  assert size < 16 * 2**20
  source = os.path.join(kodak_dir, "kodim23.png")
  out, recon = str(tmp_path / "k.lic"), str(tmp_path / "k.png")
  run = [sys.executable, "-m", "lic_jax", "codec"]
  subprocess.run(run + ["compress", source, out], check=True, cwd=ROOT, capture_output=True,
                 env=without_tensorflow)
  result = subprocess.run(run + ["decompress", out, recon, "--original", source], check=True,
                          cwd=ROOT, capture_output=True, text=True, env=without_tensorflow)
  psnr = float(result.stdout.split("PSNR=")[1].split()[0])
  bpp = 8 * os.path.getsize(out) / (768 * 512)
  # Recorded for the bundled model: 0.3509 bpp, 31.09 dB on kodim23. An
  # untrained or broken model lands far from both.
  assert bpp == pytest.approx(0.3509, abs=0.005) and psnr == pytest.approx(31.09, abs=0.05)
