"""lic_jax imports only downward (lic_jax.architecture): no module outside
the declared layers, no upward import, no cycle, counting imports made
inside functions."""

import os
import subprocess
import sys

import lic_jax
from lic_jax import architecture

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
  assert architecture.layer_of("lic_jax.split.model") == architecture.layer_of("lic_jax.models")
  assert architecture.layer_of("lic_jax.modelsx") is None


def test_every_module_imports_first_and_old_paths_are_the_moved_modules():
  """Each module of lic_jax imports as the first of the package to load (a
  module that reaches a package still loading, such as a family's model
  importing lic_jax.models while lic_jax.models imports it, fails here), and
  each old path of a moved module is that module."""
  script = r"""
import importlib, os, sys
import lic_jax
from lic_jax import architecture
modules = sorted(m for m in architecture.package_modules(os.path.dirname(lic_jax.__file__))
                 if not m.endswith("__main__"))
for module in modules:
  for name in [n for n in sys.modules if n == "lic_jax" or n.startswith("lic_jax.")]:
    del sys.modules[name]
  importlib.import_module(module)
moved = {"lic_jax.models.ohm": "lic_jax.ohm.model", "lic_jax.recipes.ohm": "lic_jax.ohm.recipe",
         "lic_jax.coding.map_codec": "lic_jax.ohm.codec", "lic_jax.ohm_curves": "lic_jax.ohm.curves",
         "lic_jax.models.split": "lic_jax.split.model", "lic_jax.recipes.split": "lic_jax.split.recipe",
         "lic_jax.coding.feature_codec": "lic_jax.split.codec",
         "lic_jax.models.grouping": "lic_jax.grouping.model",
         "lic_jax.recipes.grouping": "lic_jax.grouping.recipe",
         "lic_jax.coding.group_codec": "lic_jax.grouping.codec",
         "lic_jax.models.cbanet": "lic_jax.cbanet.model", "lic_jax.recipes.cbanet": "lic_jax.cbanet.recipe"}
for old, new in moved.items():
  assert importlib.import_module(old) is importlib.import_module(new), old
from lic_jax import grouping, ohm, split
from lic_jax.models import MODELS, OHMAutoencoder, registered
from lic_jax.split import model
# Every public name the old modules lic_jax.{ohm,split,grouping} had (now
# each package's cli.py), the functions named like a part included
# (grouping.sweep, split.search), is reached through the package.
for package in (grouping, ohm, split):
  tools = importlib.import_module(package.__name__ + ".cli")
  names = [n for n in vars(tools) if not n.startswith("_")
           and getattr(getattr(tools, n), "__module__", None) == tools.__name__]
  assert len(names) > 2 and all(getattr(package, n) is getattr(tools, n) for n in names)
assert callable(grouping.sweep) and callable(split.search) and split.sample_units
assert MODELS == registered() and MODELS["ohm_autoencoder"] is OHMAutoencoder
assert model.SplitClassifier is MODELS["split_classifier"]
print(len(modules))
"""
  result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert int(result.stdout) > 80
