"""YAML loading that remembers where every value came from.

RevOps edits these files by hand; an error that says `rules.yaml:14` saves them a search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from connector.errors import ConfigError

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class YamlDocument:
    """Parsed YAML plus the 1-based line of every key and list item."""

    path: Path
    data: Any
    lines: dict[Loc, int] = field(repr=False)

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """Line of the deepest known prefix of `loc` (pydantic locations may go deeper)."""
        key = tuple(loc)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), None)

    def error(self, loc: Sequence[str | int], message: str) -> ConfigError:
        return ConfigError.at(self.path, self.line_of(loc), message)


def load_yaml(path: Path) -> YamlDocument:
    """Parse one file; syntax errors and duplicate keys become `ConfigError`s with a line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError.at(path, None, f"cannot read the file ({exc.strerror}).") from exc
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(path, {}, {(): 1})
        lines: dict[Loc, int] = {}
        _record_lines(node, (), lines, path)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError.at(
            path, line, f"this is not valid YAML: {exc.problem}. Check indentation and quoting."
        ) from exc
    finally:
        loader.dispose()
    return YamlDocument(path, data, lines)


def _record_lines(node: yaml.Node, loc: Loc, lines: dict[Loc, int], path: Path) -> None:
    lines[loc] = node.start_mark.line + 1
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
            _record_lines(value_node, (*loc, key), lines, path)
            lines[(*loc, key)] = line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*loc, index), lines, path)
