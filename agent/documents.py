"""JSON and YAML documents parsed with bounded nesting (pure: text in, data out).

Python's parsers recurse once per nesting level: a few hundred ``[`` make them raise
RecursionError, and a document just under that limit makes every later recursive walk
fragile. Every document the agent parses is checked here: an error names the source.
TOML (registries.conf, storage.conf) maps its RecursionError where it is parsed.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "DocumentError",
    "check_depth",
    "parse_json",
    "parse_yaml",
    "parse_yaml_all",
]

#: Far deeper than any report, kubeconfig or Kubernetes object (managedFields ~15).
MAX_DEPTH = 100


class DocumentError(ValueError):
    """A document that does not parse, or nests too deeply; the message names its source."""


def _too_deep(source: str, limit: int) -> DocumentError:
    return DocumentError(f"{source}: nested more than {limit} levels deep")


def check_depth(document: Any, source: str, limit: int = MAX_DEPTH) -> None:
    """DocumentError when lists/mappings nest deeper than ``limit`` (iterative; a YAML
    alias shared many times is walked once)."""
    if not isinstance(document, (dict, list)):
        return
    seen = {id(document)}
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > limit:
            raise _too_deep(source, limit)
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, (dict, list)) and id(child) not in seen:
                seen.add(id(child))
                pending.append((child, depth + 1))


def parse_json(text: str, source: str, limit: int = MAX_DEPTH) -> Any:
    """``json.loads`` with the error (and too deep a nesting) naming ``source``."""
    try:
        document = json.loads(text)
    except RecursionError:
        raise _too_deep(source, limit) from None
    except ValueError as exc:
        raise DocumentError(f"{source}: not valid JSON: {exc}") from None
    check_depth(document, source, limit)
    return document


def parse_yaml(text: str, source: str, limit: int = MAX_DEPTH) -> Any:
    """``yaml.safe_load`` with the error (and too deep a nesting) naming ``source``."""
    import yaml

    try:
        document = yaml.safe_load(text)
    except RecursionError:
        raise _too_deep(source, limit) from None
    except yaml.YAMLError as exc:
        raise DocumentError(f"{source}: not valid YAML: {exc}") from None
    except ValueError as exc:  # e.g. a timestamp or number out of range
        raise DocumentError(f"{source}: not valid YAML: {exc}") from None
    check_depth(document, source, limit)
    return document


def parse_yaml_all(text: str, source: str, limit: int = MAX_DEPTH) -> list[Any]:
    """Every document of a YAML stream (``---`` between them), as ``oc apply -f`` reads a
    file; a syntax error names the line (``source:LINE: not YAML: ...``)."""
    import yaml

    try:
        documents = list(yaml.safe_load_all(text))
    except RecursionError:
        raise _too_deep(source, limit) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise DocumentError(f"{where}: not YAML: {exc.problem or exc}") from None
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: a date or number out of range
        raise DocumentError(f"{source}: not YAML: {exc}") from None
    for document in documents:
        check_depth(document, source, limit)
    return documents
