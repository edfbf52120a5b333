"""Label and field selectors: parsing (``labels.Parse``, ``fields.ParseSelector``) and matching.

Malformed selectors answer 400 BadRequest with the API server's messages. Field selectors
know ``metadata.name`` and ``metadata.namespace``, and for core/v1 Events and Pods the fields
their registries make selectable (``involvedObject.*``, ``reason``...; ``spec.nodeName``,
``status.phase``...).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.support.fake_apiserver.status import ApiStatusError, bad_request, quoted
from tests.support.fake_apiserver.validation import label_value_errors, qualified_name_errors


@dataclass(frozen=True)
class Requirement:
    """One term of a label selector: ``key``, ``!key``, ``key=v``, ``key in (a,b)``..."""

    key: str
    op: str  # exists, !, =, !=, in, notin, >, <
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether an object's labels satisfy this term (``!=``/``notin`` match absent keys)."""
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if not present:
            return False
        try:
            number, bound = int(str(value)), int(self.values[0])
        except ValueError:
            return False
        return number > bound if self.op == ">" else number < bound


_SELECTOR_SYMBOLS = frozenset({"!=", "==", "=", "!", "<", ">", "(", ")", ","})
_SELECTOR_TOKEN = re.compile(r"\s*(?:(!=|==|=|!|<|>|\(|\)|,)|([^\s!=<>(),]+))")


def _selector_tokens(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _SELECTOR_TOKEN.match(text, position)
        if match is None:  # pragma: no cover - the pattern matches any non-space
            raise bad_request(f"unable to parse requirement: {text[position:]!r}")
        tokens.append(match.group(1) or match.group(2))
        position = match.end()
    return tokens


def parse_label_selector(text: str) -> list[Requirement]:
    """Parse a ``labelSelector`` (``labels.Parse``); 400 BadRequest when it is malformed."""
    tokens = _selector_tokens(text)
    requirements: list[Requirement] = []
    i = 0

    def fail(expected: str) -> ApiStatusError:
        found = tokens[i] if i < len(tokens) else "end of string"
        return bad_request(f"unable to parse requirement: found '{found}', expected: {expected}")

    def identifier() -> str:
        nonlocal i
        if i >= len(tokens) or tokens[i] in _SELECTOR_SYMBOLS:
            raise fail("identifier")
        i += 1
        return tokens[i - 1]

    while i < len(tokens):
        if tokens[i] == "!":
            i += 1
            key = identifier()
            requirement = Requirement(key, "!")
        else:
            key = identifier()
            if i >= len(tokens) or tokens[i] == ",":
                requirement = Requirement(key, "exists")
            elif tokens[i] in ("=", "==", "!=", ">", "<"):
                op = "=" if tokens[i] in ("=", "==") else tokens[i]
                i += 1
                if i < len(tokens) and tokens[i] not in _SELECTOR_SYMBOLS:
                    value = tokens[i]
                    i += 1
                else:
                    value = ""  # "key=" selects the empty value
                if op in (">", "<") and not re.fullmatch(r"-?\d+", value):
                    raise bad_request(
                        f"unable to parse requirement: for 'Gt', 'Lt' operators, the value "
                        f"must be an integer: {value!r}"
                    )
                requirement = Requirement(key, op, (value,))
            elif tokens[i] in ("in", "notin"):
                op = tokens[i]
                i += 1
                if i >= len(tokens) or tokens[i] != "(":
                    raise fail("'('")
                i += 1
                values: list[str] = []
                while True:
                    if i < len(tokens) and tokens[i] not in _SELECTOR_SYMBOLS:
                        values.append(tokens[i])
                        i += 1
                    else:
                        values.append("")
                    if i < len(tokens) and tokens[i] == ",":
                        i += 1
                        continue
                    if i < len(tokens) and tokens[i] == ")":
                        i += 1
                        break
                    raise fail("',' or ')'")
                requirement = Requirement(key, op, tuple(values))
            else:
                raise fail("'=', '!=', '==', 'in', notin'")
        for problem in qualified_name_errors(requirement.key):
            raise bad_request(
                f"unable to parse requirement: key: Invalid value: "
                f"{quoted(requirement.key)}: {problem}"
            )
        for value in requirement.values if requirement.op not in (">", "<") else ():
            for problem in label_value_errors(value):
                raise bad_request(
                    f"unable to parse requirement: values[0][{requirement.key}]: "
                    f"Invalid value: {quoted(value)}: {problem}"
                )
        requirements.append(requirement)
        if i < len(tokens):
            if tokens[i] != ",":
                raise fail("','")
            i += 1
            if i >= len(tokens):
                raise fail("identifier")
    return requirements


FIELD_LABELS = ("metadata.name", "metadata.namespace")
#: core/v1 Event's selectable fields (pkg/registry/core/event/strategy.go ToSelectableFields)
EVENT_FIELD_LABELS = (
    "involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
    "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
    "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type",
)  # fmt: skip
#: core/v1 Pod's (pkg/registry/core/pod/strategy.go ToSelectableFields), for a registered Pod
POD_FIELD_LABELS = (
    "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
    "status.phase", "status.podIP", "status.nominatedNodeName",
)  # fmt: skip
_KIND_FIELD_LABELS = {"Event": EVENT_FIELD_LABELS, "Pod": POD_FIELD_LABELS}
FieldTerm = tuple[str, bool, str]  # (field, equal, value)


def parse_field_selector(text: str, kind: str = "") -> list[FieldTerm]:
    """``(field, equal, value)`` terms of a ``fieldSelector`` (``metadata.name``/``namespace``,
    and an Event's or a Pod's selectable fields for those kinds)."""
    known = FIELD_LABELS + _KIND_FIELD_LABELS.get(kind, ())
    terms: list[FieldTerm] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        match = re.fullmatch(r"([^=!]+?)\s*(==|=|!=)\s*(.*)", part)
        if match is None:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        key, op, value = match.groups()
        if key not in known:
            raise bad_request(f"field label not supported: {key}")
        terms.append((key, op != "!=", value))
    return terms


def _field_value(obj: Mapping[str, Any], key: str) -> str:
    meta = obj.get("metadata") or {}
    if key == "metadata.name":
        return str(meta.get("name") or "")
    if key == "metadata.namespace":
        return str(meta.get("namespace") or "")
    if key == "source":  # the registry selects on source.component
        return str((obj.get("source") or {}).get("component") or "")
    head, _, tail = key.partition(".")
    value = (obj.get(head) or {}).get(tail) if tail else obj.get(head)
    return "" if value is None else str(value)


def field_selector_matches(terms: list[FieldTerm], obj: Mapping[str, Any]) -> bool:
    """Whether an object satisfies every field-selector term."""
    return all((_field_value(obj, key) == value) == equal for key, equal, value in terms)
