"""Reading the files users write (model files, cluster files, inventories): one line for every way they can be wrong.

One YAML reader for all of them, stricter than YAML itself in two ways that matter for files from outside:
- A key given twice in one mapping is refused: YAML's last-wins would silently drop what the user wrote first.
- Anchors stay usable, but what their aliases expand to is bounded: nested, a few hundred bytes expand to billions
  of values (a "billion laughs" file ran for a minute and ended in MemoryError)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from lc_cluster.errors import LcError

# A model or cluster file is a few KB; anything far larger is a wrong path (a checkpoint, a log), not read whole.
MAX_BYTES = 1024 * 1024
# Values a document may hold once its aliases are expanded: a large inventory (1,000 hosts, 50 variables each) has
# about 10^5; a billion-laughs file has 10^9.
MAX_EXPANDED = 500_000
# libyaml's parser, where it is built, is several times faster; the pure-Python one reads the same documents.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE = "tag:yaml.org,2002:merge"


def read_yaml(path: Path, error: type[LcError] = LcError) -> Any:
    """The document in PATH as Python values."""
    loader = _LOADER(_read_text(path, error))
    try:
        node = _checked_node(loader, path, error)
        return None if node is None else loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    finally:
        loader.dispose()


def check_yaml(path: Path, error: type[LcError] = LcError) -> None:
    """PATH's duplicate keys and alias expansion checked, without building values: for files another program reads
    (Ansible's inventories, whose `!vault` tags only Ansible can construct). A file that is not YAML is left to it."""
    loader = _LOADER(_read_text(path, error))
    try:
        _checked_node(loader, path, error)
    except yaml.YAMLError:
        return
    finally:
        loader.dispose()


def _read_text(path: Path, error: type[LcError]) -> str:
    try:
        # O_NONBLOCK: a FIFO given as a file must not hang the command until something writes to it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise error(f"{path}: not a regular file: give the path of a YAML file")
        raw = f.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise error(f"{path}: larger than {MAX_BYTES // 1024} KiB, not a file written by hand: check the path")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start}): save it as UTF-8") from None


def _checked_node(loader: Any, path: Path, error: type[LcError]) -> yaml.Node | None:
    node: yaml.Node | None = loader.get_single_node()
    if node is not None:
        problem = _problem(node)
        if problem:
            raise error(f"{path}: {problem}")
    return node


def _problem(root: yaml.Node) -> str | None:
    """A duplicate key, a self-referencing anchor, or too large an expansion; None for a sound document.

    Aliases are the same node object wherever they appear, so each node's expanded size is computed once (post-order,
    without recursion: libyaml allows nesting deeper than Python's stack)."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if children_done:
            open_nodes.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[id(node)] > MAX_EXPANDED:
                return f"its anchors expand to more than {MAX_EXPANDED:,} values: write the values out, not aliases"
            continue
        if isinstance(node, yaml.MappingNode):
            duplicate = _duplicate_key(node)
            if duplicate:
                return duplicate
        open_nodes.add(id(node))
        stack.append((node, True))
        for child in children:
            if id(child) in open_nodes:
                return f"an anchor refers to itself (line {child.start_mark.line + 1}): remove the alias"
            if id(child) not in sizes:
                stack.append((child, False))
    return None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _duplicate_key(node: yaml.MappingNode) -> str | None:
    first: dict[tuple[str, str], yaml.Node] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE:
            continue
        seen = first.setdefault((key.tag, key.value), key)
        if seen is not key:
            lines = f"lines {seen.start_mark.line + 1} and {key.start_mark.line + 1}"
            return f"key {key.value!r} is given twice ({lines}): keep one"
    return None
