"""YAML loading that remembers where every value came from.

RevOps edits these files by hand; an error that says `rules.yaml:14` saves them a search.
The file is refused while it is being composed, before anything is built from it, when it
uses anchors or aliases (a few lines of aliases can expand into billions of values) or
nests deeper than any CS Connector file needs (a deep enough nesting exhausts the stack).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from connector.errors import ConfigError

Loc = tuple[str | int, ...]

# The deepest of our own files nests six levels (rules → actions → create_task → assign_to);
# fifty leaves room for any hand-written structure and stays far below Python's stack.
MAX_DEPTH = 50


@dataclass(frozen=True)
class YamlDocument:
    """Parsed YAML plus the 1-based line of every key and list item."""

    path: Path
    data: Any
    lines: dict[Loc, int] = field(repr=False)
    blocks: frozenset[Loc] = field(default=frozenset(), repr=False)  # `|` and `>` scalars

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """Line of the deepest known prefix of `loc` (pydantic locations may go deeper)."""
        key = tuple(loc)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), None)

    def line_within(self, loc: Sequence[str | int], line: int | None) -> int | None:
        """The file's line of `line` (1-based) of the text at `loc` (a template): a block
        scalar's text starts on the line after its key, any other on the key's line."""
        start = self.line_of(loc)
        if start is None or not line:
            return start
        return start + line if tuple(loc) in self.blocks else start + line - 1

    def error(self, loc: Sequence[str | int], message: str) -> ConfigError:
        return ConfigError.at(self.path, self.line_of(loc), message)


def load_yaml(path: Path) -> YamlDocument:
    """Parse one file; syntax errors and duplicate keys become `ConfigError`s with a line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError.at(path, None, f"cannot read the file ({exc.strerror}).") from exc
    loader = _Loader(text, path)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(path, {}, {(): 1})
        lines: dict[Loc, int] = {}
        blocks: set[Loc] = set()
        _record_lines(node, (), lines, path, blocks)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError.at(
            path, line, f"this is not valid YAML: {exc.problem}. Check indentation and quoting."
        ) from exc
    finally:
        loader.dispose()
    return YamlDocument(path, data, lines, frozenset(blocks))


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing anchors, aliases and deep nesting as it composes."""

    def __init__(self, text: str, path: Path) -> None:
        super().__init__(text)
        self.path, self.depth = path, 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise ConfigError.at(
                self.path,
                line,
                "YAML anchors and aliases (&name, *name, <<:) are not accepted in CS Connector "
                "files: write the value out in full. A few aliases can expand into billions of "
                "values, and a reviewer should see every rule as it runs.",
            )
        if self.depth >= MAX_DEPTH:
            raise ConfigError.at(
                self.path,
                line,
                f"this value is nested more than {MAX_DEPTH} levels deep; CS Connector files "
                "need only a few levels. Check the brackets and the indentation.",
            )
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _record_lines(
    node: yaml.Node, loc: Loc, lines: dict[Loc, int], path: Path, blocks: set[Loc]
) -> None:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
        blocks.add(loc)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError.at(
                    path, line, f"'{key}' is defined twice (first on line {seen[key]}); keep one."
                )
            seen[key] = line
            _record_lines(value_node, (*loc, key), lines, path, blocks)
            lines[(*loc, key)] = line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*loc, index), lines, path, blocks)
