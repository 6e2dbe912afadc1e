"""Turn pydantic's validation errors into located sentences for RevOps."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from connector.config.yaml_lines import YamlDocument
from connector.errors import ConfigError, ConfigProblem

M = TypeVar("M", bound=BaseModel)


def parse_document(doc: YamlDocument, model: type[M]) -> M:
    """Validate a whole file into `model`, reporting every problem with its line."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError([_problem(doc, err) for err in exc.errors()]) from None


def _problem(doc: YamlDocument, err: object) -> ConfigProblem:
    assert isinstance(err, dict)
    loc = tuple(p for p in err["loc"] if isinstance(p, str | int))
    where = ".".join(str(p) for p in loc) or "top level"
    kind = err["type"]
    if kind == "extra_forbidden":
        message = f"'{loc[-1]}' is not a setting here; remove it or check the spelling."
    elif kind == "missing":
        message = f"'{where}' is required; add it."
    else:
        message = f"{where}: {err['msg']}."
    return ConfigProblem(doc.path, doc.line_of(loc), message)
