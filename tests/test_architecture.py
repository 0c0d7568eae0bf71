"""lic_jax imports only downward (lic_jax.architecture): no module outside
the declared layers, no upward import, no cycle, counting imports made
inside functions."""

import os

import lic_jax
from lic_jax import architecture


def test_every_module_imports_only_its_own_layer_or_lower_and_no_cycle():
  modules = architecture.package_modules(os.path.dirname(lic_jax.__file__))
  assert len(modules) > 60 and "lic_jax.coding.model_codecs" in modules
  assert architecture.violations(architecture.imports(modules)) == []


def test_imports_inside_functions_and_relative_imports_count(tmp_path):
  package = tmp_path / "lic_jax"
  (package / "coding").mkdir(parents=True)
  (package / "__init__.py").write_text("")
  (package / "files.py").write_text("def f():\n  from lic_jax import codec\n")
  (package / "codec.py").write_text("from .coding import range_coder\n")
  (package / "coding" / "__init__.py").write_text("")
  (package / "coding" / "range_coder.py").write_text("from .. import files\n")
  graph = architecture.imports(architecture.package_modules(str(package)))
  assert graph["lic_jax.files"] == {"lic_jax.codec"}
  assert graph["lic_jax.codec"] == {"lic_jax.coding.range_coder"}
  assert graph["lic_jax.coding.range_coder"] == {"lic_jax.files"}
  problems = architecture.violations(graph)
  assert ("lic_jax.files (primitives) imports lic_jax.codec (codec API), a higher layer"
          in problems)
  assert ("import cycle: lic_jax.codec -> lic_jax.coding.range_coder -> lic_jax.files"
          in problems)


def test_a_module_in_no_layer_is_reported():
  graph = {"lic_jax.files": set(), "lic_jax.new_thing": {"lic_jax.files"}}
  assert architecture.violations(graph) == [
      "lic_jax.new_thing is in no layer of lic_jax.architecture.LAYERS"]
  assert architecture.layer_of("lic_jax.models.split") == architecture.layer_of("lic_jax.models")
  assert architecture.layer_of("lic_jax.modelsx") is None
