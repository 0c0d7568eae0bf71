"""Parts of a model's variables, named by path: which are frozen, which are
loaded from another run.

A path is the '/'-joined chain of module and variable names, e.g.
'layer3[1]/bn2/scale'. A *part* names a subtree by a path prefix: 'layer3'
is not a prefix of 'layer3[1]/...' (parts end at a '/'), 'layer3[1]' is.
Every part a config names must match something, so that a typo is an error
rather than a silently unfrozen network.
"""

from typing import Any, Iterable

import jax


class PartError(ValueError):
  """A part name that matches nothing, or a part whose shapes do not fit."""


def path_name(path) -> str:
  """'a/b/c' for a jax key path."""
  return "/".join(str(getattr(k, "key", getattr(k, "name", k))) for k in path)


def in_part(name: str, part: str) -> bool:
  return name == part or name.startswith(part + "/")


def in_any(name: str, parts: Iterable[str]) -> bool:
  """Whether the path `name` lies in one of `parts`."""
  return any(in_part(name, part) for part in parts)


def paths(tree: Any) -> list[str]:
  return [path_name(p) for p, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]


def check_parts(parts: Iterable[str], names: list[str], what: str) -> None:
  """Raises a PartError naming every part that matches none of `names`."""
  unknown = [p for p in parts if not any(in_part(n, p) for n in names)]
  if unknown:
    tops = sorted({n.split("/")[0] for n in names})
    raise PartError(f"{what} {unknown} match no parameter of the model; its top-level "
                    f"parts are {', '.join(tops)}")


def mask(tree: Any, parts: Iterable[str]) -> Any:
  """A tree of bools like `tree`: True where a leaf lies in one of `parts`."""
  parts = tuple(parts)
  return jax.tree_util.tree_map_with_path(lambda p, _: in_any(path_name(p), parts), tree)


def keep(new: Any, old: Any, frozen: Any) -> Any:
  """`new` with the leaves where `frozen` is True taken from `old`."""
  return jax.tree_util.tree_map(lambda n, o, f: o if f else n, new, old, frozen)


def parse_mapping(specs: Iterable[str]) -> list[tuple[str, str]]:
  """('dst=src', 'same', ...) -> [(dst, src), (same, same), ...]."""
  pairs = []
  for spec in specs:
    dst, _, src = spec.partition("=")
    pairs.append((dst, src if _ else dst))
  return pairs


def transplant(target: Any, source: Any, mapping: list[tuple[str, str]] | None,
               what: str, strict: bool = True) -> Any:
  """`target` (a variable tree) with parts copied from `source`.

  mapping = [(target part, source part), ...], '' meaning the whole tree;
  None copies everything, in which case the two trees must have the same
  leaves. Shapes and dtypes must match leaf by leaf; a mismatch is a
  PartError naming the path. strict=False (for collections such as batch
  statistics, which not every part has) skips the check that every part
  matches something.
  """
  target_leaves, structure = jax.tree_util.tree_flatten_with_path(target)
  flat_target = {path_name(p): v for p, v in target_leaves}
  flat_source = {path_name(p): v for p, v in
                 jax.tree_util.tree_flatten_with_path(source)[0]}
  whole = mapping is None
  if whole:
    what = f"{what} holds a different architecture than this config's model:"
    if set(flat_target) != set(flat_source):
      missing = sorted(set(flat_target) - set(flat_source))[:3]
      extra = sorted(set(flat_source) - set(flat_target))[:3]
      raise PartError(f"{what} missing {missing}, unexpected {extra}")
    mapping = [("", "")]
  if strict:
    check_parts([dst for dst, _ in mapping if dst], list(flat_target), f"{what}: parts")
    check_parts([src for _, src in mapping if src], list(flat_source),
                f"{what}: source parts")
  updated = dict(flat_target)
  for dst, src in mapping:
    for name in flat_target:
      if dst and not in_part(name, dst):
        continue
      relative = name[len(dst):].lstrip("/")
      from_name = "/".join(p for p in (src, relative) if p)
      if from_name not in flat_source:
        if not strict:
          continue
        raise PartError(f"{what} has no {from_name!r} for the model's {name!r}")
      value, expected = flat_source[from_name], flat_target[name]
      if (tuple(value.shape), value.dtype) != (tuple(expected.shape), expected.dtype):
        raise PartError(f"{what.rstrip(':')}: {from_name!r} has shape {tuple(value.shape)} "
                        f"{value.dtype}, the model's {name!r} needs "
                        f"{tuple(expected.shape)} {expected.dtype}")
      updated[name] = value
  return jax.tree_util.tree_unflatten(structure, [updated[path_name(p)]
                                                  for p, _ in target_leaves])
