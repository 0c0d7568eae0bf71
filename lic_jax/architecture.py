"""The layers of lic_jax, lowest first: a module imports only from its own
layer or the layers below it, and no import cycle exists, counting the
imports made inside functions (tests/test_architecture.py checks both).

  primitives       files (atomic writes, output checks, hashes), images,
                   metrics, command-line helpers: no model, no coder
  coding blocks    the range coder, the .lic container, CDF tables, integer
                   networks, coding orders, memory accounting; the float
                   layers and entropy models the tables are made from
  latent codecs    each latent path (factorized, Gaussian conditional,
                   hyperprior, context model): its float half the models
                   train with, its integer half (tables, coding order,
                   streams)
  models           the Flax models, as the papers write them
  runs             what a training run is: recipes (loss, data, evaluation),
                   the training state and its checkpoints. Codecs are loaded
                   from runs, so this sits below them; the trainer that makes
                   runs is a tool
  model codecs     each model's integer coding path, composed of latent codecs
  codec API        Codec: load, compress, decompress, export
  tools            training, sweeps, evaluation and what every command does
  commands         the command-line fronts (lic_jax.commands, python -m
                   lic_jax COMMAND): usage and flags, parsed before the tools
                   (and JAX) are imported, so that --help answers at once

A paper family's package (lic_jax.cbanet, .grouping, .ohm, .split: its
model, recipe, codec and tools in one place) spans the layers: model.py
sits with the models, recipe.py with the runs, codec.py with the model
codecs, __main__.py with the commands, the rest with the tools. Its
__init__ imports nothing of the family when it loads (importing
lic_jax.ohm.model never imports the OHM tools), and it sits with the
tools, whose names it lends where an old module had them
(lic_jax.lend_tool_names). The old paths of what moved
(lic_jax.models.ohm, lic_jax.coding.map_codec, ...) are aliases of the new
modules, each in the layer of its target.

A new module is placed here before anything imports it; the test fails on
a module no layer names.
"""

import ast
import os

FAMILIES = ("cbanet", "grouping", "ohm", "split")


def _family(part: str) -> tuple[str, ...]:
  """Part `part` of every paper family's package (lic_jax.<family>.<part>)."""
  return tuple(f"lic_jax.{family}.{part}" for family in FAMILIES)


LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("primitives", ("lic_jax", "lic_jax.architecture", "lic_jax.assets", "lic_jax.bd",
                    "lic_jax.cli", "lic_jax.files", "lic_jax.image", "lic_jax.metrics",
                    "lic_jax.parallel", "lic_jax.parts", "lic_jax.plot")),
    ("coding blocks", ("lic_jax.coding", "lic_jax.coding.container", "lic_jax.coding.fuzz",
                       "lic_jax.coding.integer_network", "lic_jax.coding.memory",
                       "lic_jax.coding.quantized_cdf", "lic_jax.coding.range_coder",
                       "lic_jax.coding.tables", "lic_jax.coding.tfc_ops",
                       "lic_jax.coding.wavefront", "lic_jax.coding_rate",
                       "lic_jax.entropy_models.*", "lic_jax.layers.*")),
    ("latent codecs", ("lic_jax.coding.latent_codecs",)),
    ("models", ("lic_jax.models.*", *_family("model"))),
    ("runs", ("lic_jax.checkpoint", "lic_jax.data", "lic_jax.evaluation",
              "lic_jax.labelled_data", "lic_jax.losses", "lic_jax.recipes.*",
              "lic_jax.train_state", *_family("recipe"))),
    ("model codecs", ("lic_jax.coding.feature_codec", "lic_jax.coding.group_codec",
                      "lic_jax.coding.map_codec", "lic_jax.coding.model_codecs",
                      *_family("codec"))),
    ("codec API", ("lic_jax.codec",)),
    ("tools", ("lic_jax.baselines", "lic_jax.complexity", "lic_jax.eval",
               "lic_jax.launch", "lic_jax.notebooks", "lic_jax.sweep", "lic_jax.train",
               *(f"lic_jax.{f}" for f in FAMILIES),
               *_family("cli"), "lic_jax.ohm.curves", "lic_jax.ohm_curves")),
    # The command-line fronts: usage and flags, the tools imported once they
    # are parsed.
    ("commands", ("lic_jax.__main__", "lic_jax.commands.*", *_family("__main__"))),
)


def layer_of(module: str) -> int | None:
  """The index in LAYERS of the layer naming `module` (a name, or a package
  as 'pkg.*' for it and everything in it); None if none does."""
  for index, (_, members) in enumerate(LAYERS):
    for member in members:
      if module == member or (member.endswith(".*") and
                              (module == member[:-2] or module.startswith(member[:-1]))):
        return index
  return None


def package_modules(root: str) -> dict[str, str]:
  """{module name: file} of the package at `root` (a folder named after it)."""
  base = os.path.dirname(os.path.abspath(root))
  modules = {}
  for folder, _, names in os.walk(root):
    for name in names:
      if name.endswith(".py"):
        path = os.path.join(folder, name)
        module = os.path.relpath(path, base)[:-3].replace(os.sep, ".")
        modules[module.removesuffix(".__init__")] = path
  return modules


def imports(modules: dict[str, str]) -> dict[str, set[str]]:
  """{module: the package's modules it imports}, every import statement
  counted, at module level or inside a function. `from p import x` imports
  p.x where that is a module, else p."""
  graph = {}
  for module, path in modules.items():
    with open(path, encoding="utf-8") as f:
      tree = ast.parse(f.read(), path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
      if isinstance(node, ast.Import):
        found.update(alias.name for alias in node.names)
      elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
          parts = package.split(".")[:len(package.split(".")) - node.level + 1]
          base = ".".join(parts + ([base] if base else []))
        for alias in node.names:
          found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    graph[module] = {name for name in found if name in modules and name != module}
  return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
  """The strongly connected components of more than one module (Tarjan)."""
  index, low, stack, on_stack, found = {}, {}, [], set(), []

  def visit(node):
    index[node] = low[node] = len(index)
    stack.append(node)
    on_stack.add(node)
    for other in sorted(graph[node]):
      if other not in index:
        visit(other)
        low[node] = min(low[node], low[other])
      elif other in on_stack:
        low[node] = min(low[node], index[other])
    if low[node] == index[node]:
      component = []
      while True:
        other = stack.pop()
        on_stack.discard(other)
        component.append(other)
        if other == node:
          break
      if len(component) > 1:
        found.append(sorted(component))

  for node in sorted(graph):
    if node not in index:
      visit(node)
  return found


def violations(graph: dict[str, set[str]]) -> list[str]:
  """One line per module no layer names, per upward import and per cycle."""
  problems = [f"{module} is in no layer of lic_jax.architecture.LAYERS"
              for module in sorted(graph) if layer_of(module) is None]
  for module in sorted(graph):
    for target in sorted(graph[module]):
      low, high = layer_of(module), layer_of(target)
      if low is not None and high is not None and high > low:
        problems.append(f"{module} ({LAYERS[low][0]}) imports {target} "
                        f"({LAYERS[high][0]}), a higher layer")
  problems += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
  return problems
