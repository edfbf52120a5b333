"""A fake Kubernetes API server for tests: real HTTPS, bearer tokens, an in-memory store.

It answers the way a real ``kube-apiserver`` does for what the agent and ``kubectl get``
use, so client code can be tested against faithful status codes, ``Status`` bodies and
messages:

* discovery (``/version``, ``/api``, ``/api/v1``, ``/apis``, ``/apis/<group>/<version>``);
  ``/openapi/*`` answers 404, which kubectl tolerates;
* GET, LIST (label and field selectors, ``limit``/``continue`` pagination with
  ``remainingItemCount``, continue tokens that expire on demand), POST, PUT (with the
  ``resourceVersion`` check), DELETE (and delete-collection), PATCH as server-side apply
  (``application/apply-patch+yaml``, with ``managedFields`` and field-manager conflicts),
  merge patch and strategic merge patch (treated as a merge patch);
* validation: DNS-1123 names, label keys and values, the ConfigMap 1 MiB limit, the 3 MiB
  request-body limit, owner references, namespaces that must exist;
* fault injection: :meth:`FakeApiServer.inject` (any status, ``Retry-After``),
  :meth:`FakeApiServer.drop_connections`, :meth:`FakeApiServer.deny` (403),
  :meth:`FakeApiServer.rotate_token` (401 for the old token);
* every request is recorded in :attr:`FakeApiServer.requests`.

Kinds are registered with :meth:`FakeApiServer.register_kind` (ConfigMap, Namespace, Node
and DaemonSet are registered from the start). Known deviations from a real API server are
listed in the docstring of :class:`FakeApiServer`.

Run on its own (until Ctrl-C)::

    python -m tests.fake_apiserver --port 6443 --token secret --nodes 3
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import json
import re
import socket
import ssl
import threading
import uuid
from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, NamedTuple, Optional, Union
from urllib.parse import parse_qsl, unquote, urlsplit

import yaml

from tests.fake_apiserver_certs import CertBundle, shared_certs

__all__ = [
    "DEFAULT_USER",
    "MAX_CONFIGMAP_BYTES",
    "MAX_REQUEST_BYTES",
    "ApiStatusError",
    "FakeApiServer",
    "RecordedRequest",
    "ResourceType",
]

MAX_REQUEST_BYTES = 3 * 1024 * 1024  # kube-apiserver --max-request-bytes default
MAX_CONFIGMAP_BYTES = 1024 * 1024  # corev1 validation: data + binaryData
MAX_ANNOTATIONS_BYTES = 256 * 1024  # keys + values of metadata.annotations
DEFAULT_USER = "system:serviceaccount:mirror-agent:mirror-agent"
SERVER_VERSION = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.4",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-08-14T00:00:00Z",
    "goVersion": "go1.22.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update")
EXPIRED_CONTINUE_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter."
)

Json = dict[str, Any]

# --------------------------------------------------------------------------------------
# Status bodies


def status_body(
    code: int,
    reason: str,
    message: str,
    details: Optional[Json] = None,
) -> Json:
    """A ``Status`` object as the API server writes it (key order included)."""
    body: Json = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure" if code >= 400 else "Success",
        "message": message,
        "reason": reason,
    }
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


class ApiStatusError(Exception):
    """Raised inside the server to answer with a ``Status`` body and an HTTP status."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: Optional[Json] = None,
        headers: Optional[dict[str, str]] = None,
    ) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self) -> Json:
        """The ``Status`` body for this error."""
        return status_body(self.code, self.reason, self.message, self.details)


def _name(value: str) -> str:
    """``"x"`` as Go's ``%q`` writes it (what the API server's messages use)."""
    return json.dumps(value)


def not_found(resource: str, name: str, group: str = "") -> ApiStatusError:
    """404 for a missing object: ``configmaps "x" not found``."""
    qualified = f"{resource}.{group}" if group else resource
    details: Json = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = resource
    return ApiStatusError(404, "NotFound", f"{qualified} {_name(name)} not found", details)


def already_exists(resource: str, name: str, group: str = "") -> ApiStatusError:
    """409 AlreadyExists for a create of an existing object."""
    qualified = f"{resource}.{group}" if group else resource
    details: Json = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = resource
    return ApiStatusError(
        409, "AlreadyExists", f"{qualified} {_name(name)} already exists", details
    )


def conflict(
    resource: str, name: str, group: str = "", why: Optional[str] = None
) -> ApiStatusError:
    """409 Conflict: the object changed since the client read it (or a precondition failed)."""
    qualified = f"{resource}.{group}" if group else resource
    message = (
        f"Operation cannot be fulfilled on {qualified} {_name(name)}: "
        + (why or "the object has been modified; please apply your changes to the latest "
           "version and try again")
    )  # fmt: skip
    details: Json = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = resource
    return ApiStatusError(409, "Conflict", message, details)


def bad_request(message: str) -> ApiStatusError:
    """400 BadRequest."""
    return ApiStatusError(400, "BadRequest", message)


@dataclass(frozen=True)
class FieldError:
    """One validation failure, rendered like ``field.Error``: ``<field>: <type>: <detail>``."""

    field: str
    type: str  # "Invalid value", "Required value", "Too long", "Forbidden"
    detail: str
    value: Any = None
    has_value: bool = False

    @property
    def reason(self) -> str:
        """The ``StatusCause`` reason (``FieldValueInvalid``, ...)."""
        return {
            "Invalid value": "FieldValueInvalid",
            "Required value": "FieldValueRequired",
            "Too long": "FieldValueTooLong",
            "Forbidden": "FieldValueForbidden",
            "Duplicate value": "FieldValueDuplicate",
        }.get(self.type, "FieldValueInvalid")

    def body(self) -> str:
        """The message without the field (``Invalid value: "X": ...``)."""
        if self.has_value:
            return f"{self.type}: {json.dumps(self.value)}: {self.detail}"
        return f"{self.type}: {self.detail}"

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"


def invalid(kind: str, name: str, errors: list[FieldError], group: str = "") -> ApiStatusError:
    """422 Invalid with ``details.causes``, as ``apierrors.NewInvalid`` builds it."""
    summary = str(errors[0]) if len(errors) == 1 else "[" + ", ".join(str(e) for e in errors) + "]"
    qualified = f"{kind}.{group}" if group else kind
    details: Json = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = [
        {"reason": e.reason, "message": e.body(), "field": e.field} for e in errors
    ]
    return ApiStatusError(
        422, "Invalid", f"{qualified} {_name(name)} is invalid: {summary}", details
    )


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _patch_options_invalid(error: FieldError) -> ApiStatusError:
    """``ValidatePatchOptions``' answer: 422 on ``PatchOptions.meta.k8s.io``."""
    return invalid("PatchOptions", "", [error], group="meta.k8s.io")


# Reasons (and messages) used for injected faults and generic answers, by HTTP status.
_REASONS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "the server rejected our request for an unknown reason"),
    401: ("Unauthorized", "Unauthorized"),
    403: ("Forbidden", "forbidden"),
    404: ("NotFound", "the server could not find the requested resource"),
    405: ("MethodNotAllowed", "the server does not allow this method on the requested resource"),
    409: ("Conflict", "the server reported a conflict"),
    410: ("Expired", EXPIRED_CONTINUE_MESSAGE),
    413: ("RequestEntityTooLarge", f"Request entity too large: limit is {MAX_REQUEST_BYTES}"),
    415: ("UnsupportedMediaType", "the server does not support the media type"),
    422: ("Invalid", "the request was invalid"),
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", "Internal error occurred: injected fault"),
    502: ("BadGateway", "the server received an invalid response from an upstream server"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "Timeout: request did not complete within the allotted timeout"),
}


def generic_error(code: int, message: Optional[str] = None) -> ApiStatusError:
    """An error with the reason the API server uses for ``code``."""
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = f"status {code}"
    reason, default = _REASONS.get(code, (phrase.title().replace(" ", ""), phrase))
    return ApiStatusError(code, reason, message or default)


def now_timestamp() -> str:
    """RFC 3339 UTC to the second, as ``metav1.Time`` serialises."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------
# requests, replies, kinds


class RecordedRequest(NamedTuple):
    """One request as the server received it (``query`` keeps the last value of a key)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class Request:
    """A parsed HTTP request handed to :meth:`FakeApiServer.handle`."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""


@dataclass
class Reply:
    """What to answer: a status, a body and extra headers (or ``drop`` the connection)."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False

    @classmethod
    def json(cls, status: int, document: Any, headers: Optional[dict[str, str]] = None) -> Reply:
        """A JSON reply (compact, like the API server's encoder)."""
        body = json.dumps(document, separators=(",", ":")).encode()
        return cls(status, body, headers=dict(headers or {}))

    @classmethod
    def error(cls, exc: ApiStatusError) -> Reply:
        """A ``Status`` reply for an error."""
        return cls.json(exc.code, exc.body(), exc.headers)


@dataclass(frozen=True)
class ResourceType:
    """One registered kind: where it is served and how it is named."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    builtin: bool = True  # list items omit kind/apiVersion (built-ins), CRDs keep them

    @property
    def api_version(self) -> str:
        """``v1`` or ``<group>/<version>``."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``configmaps`` or ``daemonsets.apps`` (what messages name)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def discovery(self) -> Json:
        """The ``APIResource`` entry of this kind."""
        entry: Json = {
            "name": self.plural,
            "singularName": self.singular or self.kind.lower(),
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(ALL_VERBS),
        }
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        return entry


# --------------------------------------------------------------------------------------
# validation (the messages of k8s.io/apimachinery/pkg/util/validation)

_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = re.compile(rf"{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")

DNS1123_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character (e.g. "
    "'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
DNS1123_LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
    "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
    "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
QUALIFIED_NAME_MESSAGE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
    "'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', "
    "'_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  "
    "or 'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
CONFIG_KEY_MESSAGE = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
    "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
    "'[-._a-zA-Z0-9]+')"
)


def dns1123_subdomain_errors(value: str) -> list[str]:
    """Why ``value`` is not a DNS-1123 subdomain (empty when it is one)."""
    problems = []
    if len(value) > 253:
        problems.append("must be no more than 253 characters")
    if not _DNS1123_SUBDOMAIN.fullmatch(value):
        problems.append(DNS1123_SUBDOMAIN_MESSAGE)
    return problems


def qualified_name_errors(value: str) -> list[str]:
    """Why ``value`` is not a label/annotation key (``[prefix/]name``)."""
    problems: list[str] = []
    prefix, slash, name = value.rpartition("/")
    if slash:
        if not prefix:
            problems.append("prefix part must be non-empty")
        else:
            problems.extend(f"prefix part {p}" for p in dns1123_subdomain_errors(prefix))
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > 63:
        problems.append("name part must be no more than 63 characters")
    if name and not _QUALIFIED_NAME.fullmatch(name):
        problems.append(QUALIFIED_NAME_MESSAGE)
    return problems


def label_value_errors(value: str) -> list[str]:
    """Why ``value`` is not a label value."""
    problems = []
    if len(value) > 63:
        problems.append("must be no more than 63 characters")
    if not _LABEL_VALUE.fullmatch(value):
        problems.append(LABEL_VALUE_MESSAGE)
    return problems


def _string_map(obj: Any, path: str) -> dict[str, str]:
    """A map of strings to strings, or 400 (what decoding into a Go map would answer)."""
    if obj is None:
        return {}
    if not isinstance(obj, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in obj.items()
    ):
        raise bad_request(f"{path} must be a map of strings to strings")
    return obj


def validate_metadata(obj: Json, rtype: ResourceType) -> list[FieldError]:
    """``ValidateObjectMeta``: name, labels, annotations, owner references."""
    errors: list[FieldError] = []
    meta = obj.get("metadata") or {}
    name = meta.get("name") or ""
    if not name:
        errors.append(
            FieldError("metadata.name", "Required value", "name or generateName is required")
        )
    else:
        check = dns1123_subdomain_errors if rtype.kind != "Namespace" else _dns_label_errors
        for problem in check(name):
            errors.append(FieldError("metadata.name", "Invalid value", problem, name, True))
    labels = _string_map(meta.get("labels"), "metadata.labels")
    for key, value in labels.items():
        for problem in qualified_name_errors(key):
            errors.append(FieldError("metadata.labels", "Invalid value", problem, key, True))
        for problem in label_value_errors(value):
            errors.append(FieldError("metadata.labels", "Invalid value", problem, value, True))
    annotations = _string_map(meta.get("annotations"), "metadata.annotations")
    size = 0
    for key, value in annotations.items():
        for problem in qualified_name_errors(key.lower()):
            errors.append(FieldError("metadata.annotations", "Invalid value", problem, key, True))
        size += _data_size(key) + _data_size(value)
    if size > MAX_ANNOTATIONS_BYTES:
        errors.append(FieldError(
            "metadata.annotations", "Too long", f"must have at most {MAX_ANNOTATIONS_BYTES} bytes"
        ))  # fmt: skip
    owners = meta.get("ownerReferences")
    if owners is not None:
        if not isinstance(owners, list):
            raise bad_request("metadata.ownerReferences must be a list")
        errors.extend(_owner_reference_errors(owners))
    return errors


def _dns_label_errors(value: str) -> list[str]:
    problems = []
    if len(value) > 63:
        problems.append("must be no more than 63 characters")
    if not re.fullmatch(_DNS1123_LABEL, value):
        problems.append(DNS1123_LABEL_MESSAGE)
    return problems


def _owner_reference_errors(owners: list[Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    path = "metadata.ownerReferences"
    controllers = 0
    for ref in owners:
        if not isinstance(ref, dict):
            raise bad_request(f"{path} entries must be objects")
        for key, what in (
            ("apiVersion", "version"), ("kind", "kind"), ("name", "name"), ("uid", "uid")
        ):  # fmt: skip
            if not ref.get(key):
                errors.append(FieldError(
                    f"{path}.{key}", "Invalid value", f"{what} must not be empty", "", True
                ))  # fmt: skip
        if ref.get("controller") is True:
            controllers += 1
    if controllers > 1:
        errors.append(FieldError(
            path, "Invalid value", "Only one reference can have Controller set to true.",
            owners, True,
        ))  # fmt: skip
    return errors


def configmap_errors(obj: Json) -> list[FieldError]:
    """``ValidateConfigMap``: keys, no duplicates across data/binaryData, the 1 MiB limit."""
    errors: list[FieldError] = []
    data = _string_map(obj.get("data"), "data")
    binary = obj.get("binaryData") or {}
    if not isinstance(binary, dict):
        raise bad_request("binaryData must be a map of strings to base64 strings")
    total = 0
    for key, value in data.items():
        if len(key) > 253 or not _CONFIG_KEY.fullmatch(key):
            errors.append(
                FieldError(f"data[{key}]", "Invalid value", CONFIG_KEY_MESSAGE, key, True)
            )
        total += _data_size(value)
    for key, value in binary.items():
        if len(key) > 253 or not _CONFIG_KEY.fullmatch(key):
            errors.append(FieldError(
                f"binaryData[{key}]", "Invalid value", CONFIG_KEY_MESSAGE, key, True
            ))  # fmt: skip
        if key in data:
            errors.append(FieldError(
                f"binaryData[{key}]", "Invalid value",
                "duplicate of key present in data", key, True,
            ))  # fmt: skip
        try:
            total += len(base64.b64decode(str(value), validate=True))
        except (binascii.Error, ValueError):
            raise bad_request(
                f'ConfigMap in version "v1" cannot be handled as a ConfigMap: illegal '
                f"base64 data in binaryData[{key}]"
            ) from None
    if total > MAX_CONFIGMAP_BYTES:
        errors.append(
            FieldError("[]", "Too long", f"must have at most {MAX_CONFIGMAP_BYTES} bytes")
        )
    return errors


def _data_size(value: str) -> int:
    return len(value.encode())


# --------------------------------------------------------------------------------------
# label and field selectors


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
                f"{_name(requirement.key)}: {problem}"
            )
        for value in requirement.values if requirement.op not in (">", "<") else ():
            for problem in label_value_errors(value):
                raise bad_request(
                    f"unable to parse requirement: values[0][{requirement.key}]: "
                    f"Invalid value: {_name(value)}: {problem}"
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


def parse_field_selector(text: str) -> list[tuple[str, bool, str]]:
    """``(field, equal, value)`` terms of a ``fieldSelector`` (``metadata.name``/``namespace``)."""
    terms: list[tuple[str, bool, str]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        match = re.fullmatch(r"([^=!]+?)\s*(==|=|!=)\s*(.*)", part)
        if match is None:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        key, op, value = match.groups()
        if key not in FIELD_LABELS:
            raise bad_request(f"field label not supported: {key}")
        terms.append((key, op != "!=", value))
    return terms


def field_selector_matches(terms: list[tuple[str, bool, str]], meta: Mapping[str, Any]) -> bool:
    """Whether an object's metadata satisfies every field-selector term."""
    for key, equal, value in terms:
        actual = meta.get("name" if key == "metadata.name" else "namespace") or ""
        if (actual == value) != equal:
            return False
    return True


# --------------------------------------------------------------------------------------
# storage

_METADATA_ORDER = (
    "name", "generateName", "namespace", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields",
)  # fmt: skip


def _ordered_metadata(meta: Mapping[str, Any]) -> Json:
    """Metadata keys in the order the API server writes them; empty maps dropped."""
    ordered = {k: meta[k] for k in _METADATA_ORDER if k in meta and meta[k] not in (None, {}, [])}
    ordered.update((k, v) for k, v in meta.items() if k not in _METADATA_ORDER and v is not None)
    return ordered


@dataclass(frozen=True)
class StoredObject:
    """An object as stored: the dict (never mutated once stored) and its two JSON forms."""

    obj: Json
    item: bytes  # as an item of a list (built-ins omit kind and apiVersion there)
    full: bytes  # as GET returns it

    @classmethod
    def encode(cls, obj: Json, rtype: ResourceType) -> StoredObject:
        """Serialise once, at write time, so that reads only join bytes."""
        head = {"kind": rtype.kind, "apiVersion": rtype.api_version}
        rest = {k: v for k, v in obj.items() if k not in head}
        body = json.dumps(rest, separators=(",", ":")).encode()
        prefix = json.dumps(head, separators=(",", ":")).encode()[:-1]
        full = prefix + (b"," + body[1:] if body != b"{}" else b"}")
        return cls({**head, **rest}, body if rtype.builtin else full, full)


@dataclass
class Page:
    """One page of a LIST: the items, the continue key and the counts the server reports."""

    items: list[StoredObject]
    resource_version: int
    continue_token: Optional[str] = None
    remaining: Optional[int] = None


class ObjectStore:
    """Objects of every registered kind, by kind and ``namespace/name`` key, kept sorted.

    Keys sort as etcd's do (``namespace/name`` byte order), so a namespace is a contiguous
    range and a page is a slice: serving one costs O(log n + page). One lock guards it all.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.resource_version = 0
        self.compacted = 0  # continue tokens below this resourceVersion are expired
        self._objects: dict[ResourceType, dict[str, StoredObject]] = {}
        self._keys: dict[ResourceType, list[str]] = {}

    @staticmethod
    def key(rtype: ResourceType, namespace: Optional[str], name: str) -> str:
        """``namespace/name`` for namespaced kinds, ``name`` otherwise."""
        return f"{namespace}/{name}" if rtype.namespaced else name

    def add_type(self, rtype: ResourceType) -> None:
        """Make room for a kind (idempotent)."""
        with self.lock:
            self._objects.setdefault(rtype, {})
            self._keys.setdefault(rtype, [])

    def next_resource_version(self) -> int:
        """Advance the cluster-wide resourceVersion (every write does)."""
        with self.lock:
            self.resource_version += 1
            return self.resource_version

    def get(
        self, rtype: ResourceType, namespace: Optional[str], name: str
    ) -> Optional[StoredObject]:
        """The stored object, or None."""
        with self.lock:
            return self._objects[rtype].get(self.key(rtype, namespace, name))

    def write(self, rtype: ResourceType, obj: Json) -> StoredObject:
        """Store ``obj`` (create or replace) under a new resourceVersion; it is not copied."""
        with self.lock:
            meta = obj["metadata"]
            meta["resourceVersion"] = str(self.next_resource_version())
            obj["metadata"] = _ordered_metadata(meta)
            stored = StoredObject.encode(obj, rtype)
            key = self.key(rtype, meta.get("namespace"), meta["name"])
            objects = self._objects[rtype]
            if key not in objects:
                insort(self._keys[rtype], key)
            objects[key] = stored
            return stored

    def remove(
        self, rtype: ResourceType, namespace: Optional[str], name: str
    ) -> Optional[StoredObject]:
        """Delete one object; the removed object, or None."""
        with self.lock:
            key = self.key(rtype, namespace, name)
            stored = self._objects[rtype].pop(key, None)
            if stored is not None:
                keys = self._keys[rtype]
                del keys[bisect_left(keys, key)]
                self.next_resource_version()
            return stored

    def remove_namespace_contents(self, namespace: str) -> int:
        """Delete every namespaced object in ``namespace``; how many went."""
        removed = 0
        with self.lock:
            for rtype, keys in self._keys.items():
                if not rtype.namespaced:
                    continue
                lo, hi = self._range(keys, namespace)
                for key in keys[lo:hi]:
                    del self._objects[rtype][key]
                del keys[lo:hi]
                removed += hi - lo
            if removed:
                self.next_resource_version()
        return removed

    @staticmethod
    def _range(keys: list[str], namespace: Optional[str]) -> tuple[int, int]:
        if namespace is None:
            return 0, len(keys)
        # "/" + 1 is "0": every "<namespace>/..." key sorts between the two bounds
        return bisect_left(keys, namespace + "/"), bisect_left(keys, namespace + "0")

    def all(self, rtype: ResourceType) -> list[StoredObject]:
        """Every object of a kind, in key order."""
        with self.lock:
            objects = self._objects[rtype]
            return [objects[k] for k in self._keys[rtype]]

    def count(self, rtype: ResourceType) -> int:
        """How many objects of a kind are stored."""
        with self.lock:
            return len(self._keys[rtype])

    # -- LIST ------------------------------------------------------------------------

    def expire_continue_tokens(self) -> None:
        """Behave as if etcd compacted now: every continue token issued so far expires."""
        with self.lock:
            self.compacted = self.next_resource_version()

    def list_page(
        self,
        rtype: ResourceType,
        namespace: Optional[str],
        *,
        labels: Optional[list[Requirement]] = None,
        fields: Optional[list[tuple[str, bool, str]]] = None,
        limit: int = 0,
        continue_token: Optional[str] = None,
    ) -> Page:
        """One page of a LIST, as the API server's etcd-backed list builds it."""
        start = ""
        with self.lock:
            list_rv = self.resource_version
            if continue_token:
                list_rv, start = self._decode_continue(continue_token)
                if list_rv < self.compacted:  # issued before the last compaction
                    raise ApiStatusError(410, "Expired", EXPIRED_CONTINUE_MESSAGE)
            keys = self._keys[rtype]
            objects = self._objects[rtype]
            lo, hi = self._range(keys, namespace)
            if start:
                lo = max(lo, bisect_left(keys, start))
            filtered = bool(labels or fields)
            if not filtered:
                end = hi if limit <= 0 else min(hi, lo + limit)
                items = [objects[k] for k in keys[lo:end]]
                last = end
            else:
                items = []
                last = lo
                while last < hi and (limit <= 0 or len(items) < limit):
                    stored = objects[keys[last]]
                    meta = stored.obj["metadata"]
                    if (
                        not labels or all(r.matches(meta.get("labels") or {}) for r in labels)
                    ) and (not fields or field_selector_matches(fields, meta)):
                        items.append(stored)
                    last += 1
            page = Page(items, list_rv)
            if limit > 0 and last < hi:
                page.continue_token = self._encode_continue(list_rv, keys[last - 1] + "\x00")
                if not filtered:
                    page.remaining = hi - last
            return page

    @staticmethod
    def _encode_continue(resource_version: int, start: str) -> str:
        raw = json.dumps({"v": "meta.k8s.io/v1", "rv": resource_version, "start": start})
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @staticmethod
    def _decode_continue(token: str) -> tuple[int, str]:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            decoded = json.loads(raw)
            if decoded.get("v") != "meta.k8s.io/v1":
                raise ValueError("unexpected version")
            return int(decoded["rv"]), str(decoded["start"])
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise bad_request(f"continue key is not valid: {exc}") from None


# --------------------------------------------------------------------------------------
# managed fields: a path set per manager, at the granularity documented on FakeApiServer

FieldPath = tuple[str, ...]
_KEYED_MAPS = ("data", "binaryData", "stringData")
_IGNORED_TOP = ("apiVersion", "kind", "metadata", "status")


def field_paths(obj: Mapping[str, Any]) -> set[FieldPath]:
    """The fields of ``obj`` that a manager can own."""
    paths: set[FieldPath] = set()
    for top, value in obj.items():
        if top in _IGNORED_TOP or value is None:
            continue
        if top in _KEYED_MAPS and isinstance(value, dict):
            paths.update((top, key) for key in value)
        else:
            paths.add((top,))
    meta = obj.get("metadata") or {}
    for sub in ("labels", "annotations"):
        paths.update(("metadata", sub, key) for key in meta.get(sub) or {})
    for sub in ("ownerReferences", "finalizers"):
        if meta.get(sub):
            paths.add(("metadata", sub))
    return paths


_MISSING = object()


def value_at(obj: Mapping[str, Any], path: FieldPath) -> Any:
    """The value at a field path, or a sentinel when absent."""
    current: Any = obj
    for part in path:
        if not isinstance(current, Mapping) or part not in current:
            return _MISSING
        current = current[part]
    return current


def paths_to_fields_v1(paths: Iterable[FieldPath]) -> Json:
    """``FieldsV1`` (``{"f:data": {".": {}, "f:key": {}}}``) for a path set."""
    root: Json = {}
    for path in sorted(paths):
        node = root
        for depth, part in enumerate(path):
            child = node.setdefault(f"f:{part}", {})
            if depth < len(path) - 1 and part != "metadata":
                child.setdefault(".", {})
            node = child
    return root


def fields_v1_to_paths(fields: Mapping[str, Any], prefix: FieldPath = ()) -> set[FieldPath]:
    """The inverse of :func:`paths_to_fields_v1` (leaves only)."""
    paths: set[FieldPath] = set()
    for key, child in fields.items():
        if not key.startswith("f:"):
            continue
        path = (*prefix, key[2:])
        grand = {k: v for k, v in (child or {}).items() if k != "."}
        if grand:
            paths |= fields_v1_to_paths(grand, path)
        else:
            paths.add(path)
    return paths


@dataclass
class ManagerEntry:
    """One ``managedFields`` entry, with its fields as a path set."""

    manager: str
    operation: str  # Apply or Update
    api_version: str
    time: str
    paths: set[FieldPath]

    @classmethod
    def parse(cls, entry: Mapping[str, Any]) -> ManagerEntry:
        """From the stored ``managedFields`` form."""
        return cls(
            str(entry.get("manager") or ""), str(entry.get("operation") or "Update"),
            str(entry.get("apiVersion") or ""), str(entry.get("time") or ""),
            fields_v1_to_paths(entry.get("fieldsV1") or {}),
        )  # fmt: skip

    def render(self) -> Json:
        """To the stored ``managedFields`` form."""
        return {
            "manager": self.manager, "operation": self.operation,
            "apiVersion": self.api_version, "time": self.time,
            "fieldsType": "FieldsV1", "fieldsV1": paths_to_fields_v1(self.paths),
        }  # fmt: skip


def managers_of(obj: Mapping[str, Any]) -> list[ManagerEntry]:
    """The parsed ``metadata.managedFields`` of an object."""
    entries = (obj.get("metadata") or {}).get("managedFields") or []
    return [ManagerEntry.parse(e) for e in entries if isinstance(e, Mapping)]


def record_update(
    old: Optional[Mapping[str, Any]], new: Json, manager: str, api_version: str
) -> None:
    """Set ``new``'s managedFields after an Update-type write (create, PUT, merge patch):
    ``manager`` takes every field it changed, the others keep the rest."""
    before = old or {}
    entries = managers_of(before)
    now_paths = field_paths(new)
    changed = {
        p for p in field_paths(before) | now_paths if value_at(before, p) != value_at(new, p)
    }
    for entry in entries:
        entry.paths = (entry.paths - changed) & now_paths
    mine = next((e for e in entries if e.manager == manager and e.operation == "Update"), None)
    if changed & now_paths:
        if mine is None:
            mine = ManagerEntry(manager, "Update", api_version, now_timestamp(), set())
            entries.append(mine)
        mine.paths |= changed & now_paths
        mine.time = now_timestamp()
    new["metadata"]["managedFields"] = [e.render() for e in entries if e.paths]


# --------------------------------------------------------------------------------------
# the server


@dataclass
class _Fault:
    """A pending :meth:`FakeApiServer.inject`."""

    status: int
    remaining: int
    retry_after: Optional[float]
    path_prefix: Optional[str]
    method: Optional[str]
    message: Optional[str]

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault answers a request (it has uses left and the filters match)."""
        return (
            self.remaining > 0
            and (self.path_prefix is None or path.startswith(self.path_prefix))
            and (self.method is None or self.method == method)
        )


@dataclass
class _Drop:
    """A pending :meth:`FakeApiServer.drop_connections`."""

    remaining: int
    path_prefix: Optional[str]


_BUILTIN_GROUPS = frozenset({"", "apps", "batch", "policy", "autoscaling", "coordination.k8s.io"})
KindRef = Union[str, ResourceType]


class FakeApiServer:
    """A Kubernetes API server on ``127.0.0.1`` (HTTPS, bearer token), for tests.

    Use it as a context manager (``with FakeApiServer(token="t") as server:``) or call
    :meth:`start`/:meth:`stop`. :attr:`url`, :attr:`ca_file` and :attr:`token` are what a
    client needs; :meth:`write_kubeconfig` writes them for kubectl.

    Known deviations from a real API server:

    * no watch: ``watch=true`` answers 405 MethodNotAllowed (discovery does not list the
      ``watch`` verb); no protobuf (415), no Table output (plain lists, which kubectl
      prints itself), no subresources (``/status``, ``/scale``: 404);
    * a continue token reads the *current* objects after its key, not a snapshot at its
      resourceVersion; tokens expire only when :meth:`expire_continue_tokens` is called;
      the ``resourceVersion``/``resourceVersionMatch`` parameters of a LIST are ignored;
    * strategic merge patch is a JSON merge patch (lists are replaced, not merged);
      JSON patch is not supported (415);
    * server-side apply owns ``data``/``binaryData``/``stringData`` keys and
      ``metadata.labels``/``annotations`` keys one by one; every other top-level field
      (``spec``...) and ``metadata.ownerReferences`` are atomic, replaced whole (the real
      server merges ``spec`` field by field and owner references by uid);
    * ``status`` is a subresource for every kind: PUT, PATCH and apply keep the stored
      one (POST and :meth:`put` keep what they are given);
    * field selectors know ``metadata.name`` and ``metadata.namespace`` only; a continue
      token is not checked against the path that issued it;
    * HTTP/1.1 only (ALPN offers no h2); objects seeded with :meth:`put` get no
      ``managedFields``;
    * no admission, defaulting or garbage collection; deleting a Namespace removes its
      objects at once (no ``Terminating`` phase); DELETE answers a ``Status`` for every kind;
    * anonymous requests are rejected (401) everywhere, ``/version`` included, as with
      ``--anonymous-auth=false``; every valid token is the same user (:attr:`user`);
    * ``metadata.generation`` is set on every kind (it starts at 1 and grows when anything
      outside ``metadata``/``status`` changes), where the real server sets it only on
      kinds with a spec;
    * more lenient than a real server (nothing in the agent relies on these): an apply
      that changes nothing still writes (new resourceVersion, manager time); an apply's
      stale ``resourceVersion``, missing name, ``uid`` or ``managedFields`` are ignored
      rather than refused; unknown fields are stored (a real server drops them with a
      warning, or answers 500 to an apply); ConfigMap keys ``.``/``..``, changes to an
      immutable ConfigMap and some ownerReference kinds are accepted; an expired continue
      token's 410 carries no inconsistent-continue token; no ``/openapi`` (kubectl apply
      needs ``--validate=false``) and no SelfSubjectAccessReview (``kubectl auth can-i``).
    """

    def __init__(
        self,
        token: str = "test-token",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        certs: Optional[CertBundle] = None,
        user: str = DEFAULT_USER,
        namespaces: Iterable[str] = ("default", "kube-system", "kube-public", "kube-node-lease"),
    ) -> None:
        self._token = token
        self.host = host
        self.port = port
        self.user = user
        self.certs = certs
        self.store = ObjectStore()
        self._lock = threading.Lock()
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        self._requests: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self._drops: list[_Drop] = []
        self._denials: set[tuple[str, str, Optional[str]]] = set()
        self._httpd: Optional[_HttpServer] = None
        self._thread: Optional[threading.Thread] = None
        self.register_kind("", "v1", "namespaces", "Namespace", False, short_names=("ns",))
        self.register_kind("", "v1", "nodes", "Node", False, short_names=("no",))
        self.register_kind("", "v1", "configmaps", "ConfigMap", True, short_names=("cm",))
        self.register_kind("apps", "v1", "daemonsets", "DaemonSet", True, short_names=("ds",))
        for namespace in namespaces:
            self.add_namespace(namespace)

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> FakeApiServer:
        """Listen (an ephemeral port unless one was given) and serve in a thread."""
        if self._httpd is not None:
            return self
        if self.certs is None:
            self.certs = shared_certs()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self.certs.cert_file), str(self.certs.key_file))
        context.set_alpn_protocols(["http/1.1"])
        httpd = _HttpServer((self.host, self.port), _Handler, self, context)
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.01},
            name=f"fake-apiserver:{self.port}", daemon=True,
        )  # fmt: skip
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeApiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``https://127.0.0.1:<port>`` (only meaningful once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    @property
    def ca_file(self) -> str:
        """The CA certificate that signed the server's certificate (PEM file path)."""
        if self.certs is None:
            self.certs = shared_certs()
        return str(self.certs.ca_file)

    @property
    def token(self) -> str:
        """The bearer token accepted now."""
        return self._token

    def write_kubeconfig(self, path: Path, namespace: Optional[str] = None) -> Path:
        """A kubeconfig for kubectl (server, certificate-authority, token) at ``path``."""
        context: Json = {"cluster": "fake", "user": "fake"}
        if namespace:
            context["namespace"] = namespace
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {
                "server": self.url, "certificate-authority": self.ca_file}}],
            "users": [{"name": "fake", "user": {"token": self._token}}],
            "contexts": [{"name": "fake", "context": context}],
            "current-context": "fake",
            "preferences": {},
        }  # fmt: skip
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path

    # -- faults, authentication, authorisation ------------------------------------------

    def rotate_token(self, new_token: str) -> None:
        """Accept ``new_token`` from now on; the old one answers 401."""
        with self._lock:
            self._token = new_token

    def deny(self, verb: str, resource: str, namespace: Optional[str] = None) -> None:
        """Answer 403 Forbidden to ``verb`` on ``resource`` (plural, ``plural.group`` too),
        in ``namespace`` only or everywhere (None)."""
        with self._lock:
            self._denials.add((verb, resource, namespace))

    def allow_all(self) -> None:
        """Forget every :meth:`deny`."""
        with self._lock:
            self._denials.clear()

    def inject(
        self,
        status: int,
        count: int = 1,
        retry_after: Optional[float] = None,
        path_prefix: Optional[str] = None,
        method: Optional[str] = None,
        message: Optional[str] = None,
    ) -> None:
        """Answer the next ``count`` matching requests with ``status`` and a Status body
        (and ``Retry-After`` when given). Faults are checked before authentication."""
        with self._lock:
            self._faults.append(
                _Fault(status, count, retry_after, path_prefix, method and method.upper(), message)
            )

    def drop_connections(self, count: int = 1, path_prefix: Optional[str] = None) -> None:
        """Close the connection, without any response, for the next ``count`` requests."""
        with self._lock:
            self._drops.append(_Drop(count, path_prefix))

    def clear_faults(self) -> None:
        """Forget pending injected faults and drops."""
        with self._lock:
            self._faults.clear()
            self._drops.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._requests.clear()

    def expire_continue_tokens(self) -> None:
        """Every continue token issued so far answers 410 Expired from now on."""
        self.store.expire_continue_tokens()

    # -- kinds -------------------------------------------------------------------------

    def register_kind(
        self,
        group: str,
        version: str,
        plural: str,
        kind: str,
        namespaced: bool,
        *,
        singular: Optional[str] = None,
        short_names: Iterable[str] = (),
        builtin: Optional[bool] = None,
    ) -> ResourceType:
        """Serve a kind (and list it in discovery). ``builtin`` (default: the group is a
        Kubernetes one) decides whether list items omit ``kind``/``apiVersion``, as they do
        for built-in types and do not for custom resources."""
        rtype = ResourceType(
            group, version, plural, kind, namespaced,
            singular=singular or kind.lower(), short_names=tuple(short_names),
            builtin=group in _BUILTIN_GROUPS if builtin is None else builtin,
        )  # fmt: skip
        with self._lock:
            self._types[(group, version, plural)] = rtype
        self.store.add_type(rtype)
        return rtype

    def resource_types(self) -> list[ResourceType]:
        """Every registered kind."""
        with self._lock:
            return list(self._types.values())

    def resource_type(self, ref: KindRef, api_version: Optional[str] = None) -> ResourceType:
        """A registered kind by Kind (``ConfigMap``), plural (``configmaps``) or
        ``plural.group``; ``api_version`` narrows the search. KeyError when unknown."""
        if isinstance(ref, ResourceType):
            return ref
        matches = [
            t for t in self.resource_types()
            if ref in (t.kind, t.plural, t.qualified)
            and (api_version is None or t.api_version == api_version)
        ]  # fmt: skip
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} registered kinds match {ref!r} ({api_version})")
        return matches[0]

    # -- seeding (no authentication, no faults) -------------------------------------------

    def add_namespace(self, name: str, labels: Optional[Mapping[str, str]] = None) -> Json:
        """Create (or replace) a Namespace; the stored object."""
        obj: Json = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        if labels:
            obj["metadata"]["labels"] = dict(labels)
        return self.put(obj)

    def add_node(
        self,
        name: str,
        labels: Optional[Mapping[str, str]] = None,
        annotations: Optional[Mapping[str, str]] = None,
        taints: Optional[list[Json]] = None,
    ) -> Json:
        """Create (or replace) a Ready Node with the usual well-known labels; the stored
        object (with its ``metadata.uid``)."""
        all_labels = {
            "beta.kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            **(labels or {}),
        }
        obj: Json = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": all_labels},
            "spec": {},
            "status": {
                "conditions": [{
                    "type": "Ready", "status": "True", "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": now_timestamp(), "lastTransitionTime": now_timestamp(),
                }],
                "addresses": [{"type": "Hostname", "address": name}],
                "nodeInfo": {
                    "architecture": "amd64", "operatingSystem": "linux",
                    "kubeletVersion": SERVER_VERSION["gitVersion"],
                    "containerRuntimeVersion": "cri-o://1.30.4",
                    "osImage": "Red Hat Enterprise Linux CoreOS 417.94",
                },
            },
        }  # fmt: skip
        if annotations:
            obj["metadata"]["annotations"] = dict(annotations)
        if taints:
            obj["spec"]["taints"] = copy.deepcopy(taints)
        return self.put(obj)

    def put(self, obj: Mapping[str, Any]) -> Json:
        """Create or replace an object of any registered kind (by ``apiVersion``/``kind``),
        bypassing authentication and faults but not validation; a missing Namespace is
        created. Managed fields are kept as given. Returns the stored object (a copy)."""
        new = copy.deepcopy(dict(obj))
        rtype = self.resource_type(str(new.get("kind")), str(new.get("apiVersion")))
        meta = new.setdefault("metadata", {})
        namespace = meta.get("namespace") or ("default" if rtype.namespaced else None)
        if rtype.namespaced:
            meta["namespace"] = namespace
            ns_type = self.resource_type("Namespace", "v1")
            if self.store.get(ns_type, None, str(namespace)) is None:
                self.add_namespace(str(namespace))
        with self.store.lock:
            old = self.store.get(rtype, namespace, str(meta.get("name") or ""))
            self._validate(rtype, new)
            if old is None:
                self._fill_new(rtype, new, namespace)
            else:
                self._carry_over(rtype, old.obj, new)
            return copy.deepcopy(self.store.write(rtype, new).obj)

    def get_object(
        self, kind: KindRef, name: str, namespace: Optional[str] = None
    ) -> Optional[Json]:
        """A stored object (a copy) by kind, name and namespace, or None."""
        rtype = self.resource_type(kind)
        stored = self.store.get(rtype, namespace, name)
        return copy.deepcopy(stored.obj) if stored else None

    def objects(self, kind: KindRef, namespace: Optional[str] = None) -> list[Json]:
        """Every stored object of a kind (copies, in key order), optionally in one namespace."""
        rtype = self.resource_type(kind)
        return [
            copy.deepcopy(s.obj) for s in self.store.all(rtype)
            if namespace is None or s.obj["metadata"].get("namespace") == namespace
        ]  # fmt: skip

    def delete_object(self, kind: KindRef, name: str, namespace: Optional[str] = None) -> bool:
        """Remove a stored object (no authentication); whether it existed."""
        rtype = self.resource_type(kind)
        removed = self.store.remove(rtype, namespace, name)
        if removed is not None and rtype.kind == "Namespace" and not rtype.group:
            self.store.remove_namespace_contents(name)
        return removed is not None

    # -- object bookkeeping --------------------------------------------------------------

    def _validate(self, rtype: ResourceType, obj: Json) -> None:
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        errors = validate_metadata(obj, rtype)
        if rtype.kind == "ConfigMap" and not rtype.group:
            errors.extend(configmap_errors(obj))
        if errors:
            raise invalid(rtype.kind, str(meta.get("name") or ""), errors, rtype.group)

    @staticmethod
    def _fill_new(rtype: ResourceType, obj: Json, namespace: Optional[str]) -> None:
        """What the server sets on create: identity, timestamps, generation."""
        obj["kind"], obj["apiVersion"] = rtype.kind, rtype.api_version
        meta = obj["metadata"]
        if rtype.namespaced:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        meta["uid"] = str(uuid.uuid4())
        meta["generation"] = 1
        meta["creationTimestamp"] = now_timestamp()
        for key in ("resourceVersion", "deletionTimestamp", "selfLink"):
            meta.pop(key, None)
        if rtype.kind == "Namespace" and not rtype.group:
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj["status"] = {"phase": "Active"}

    @staticmethod
    def _carry_over(rtype: ResourceType, old: Json, new: Json) -> None:
        """What an update keeps from the stored object: identity, creation, generation."""
        new["kind"], new["apiVersion"] = rtype.kind, rtype.api_version
        old_meta, meta = old["metadata"], new["metadata"]
        for key in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp"):
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        meta.pop("selfLink", None)
        changed = any(
            old.get(k) != new.get(k)
            for k in set(old) | set(new) if k not in ("metadata", "status", "kind", "apiVersion")
        )  # fmt: skip
        meta["generation"] = int(old_meta.get("generation") or 1) + (1 if changed else 0)
        if rtype.kind == "Namespace" and not rtype.group:
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]

    # -- requests ------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        """Answer one request (the HTTP handler's only entry point; usable without HTTP)."""
        with self._lock:
            self._requests.append(RecordedRequest(
                request.method, request.path, dict(request.query), dict(request.headers)
            ))  # fmt: skip
            for drop in self._drops:
                if drop.remaining > 0 and (
                    drop.path_prefix is None or request.path.startswith(drop.path_prefix)
                ):
                    drop.remaining -= 1
                    self._drops = [d for d in self._drops if d.remaining > 0]
                    return Reply(0, drop=True)
            for fault in self._faults:
                if fault.matches(request.method, request.path):
                    fault.remaining -= 1
                    self._faults = [f for f in self._faults if f.remaining > 0]
                    return self._fault_reply(fault)
        try:
            self._authenticate(request)
            return self._route(request)
        except ApiStatusError as exc:
            return Reply.error(exc)
        except Exception as exc:  # a bug in the fake must still answer like a server
            return Reply.error(ApiStatusError(
                500, "InternalError", f"Internal error occurred: {type(exc).__name__}: {exc}"
            ))  # fmt: skip

    @staticmethod
    def _fault_reply(fault: _Fault) -> Reply:
        error = generic_error(fault.status, fault.message)
        if fault.retry_after is not None:
            seconds = fault.retry_after
            text = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
            error.headers["Retry-After"] = text
            error.details = {"retryAfterSeconds": int(seconds)}
        if fault.status == 401:
            return Reply.json(401, status_body(401, "Unauthorized", "Unauthorized"))
        return Reply.error(error)

    def _authenticate(self, request: Request) -> None:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        with self._lock:
            token = self._token
        if scheme.lower() != "bearer" or credential.strip() != token:
            raise ApiStatusError(401, "Unauthorized", "Unauthorized")

    def _authorize(
        self,
        verb: str,
        rtype: ResourceType,
        namespace: Optional[str],
        name: Optional[str],
        *,
        with_reason: bool = True,
    ) -> None:
        with self._lock:
            denied = any(
                v in (verb, "*") and r in (rtype.plural, rtype.qualified, "*")
                and (ns is None or ns == namespace)
                for v, r, ns in self._denials
            )  # fmt: skip
        if not denied:
            return
        subject = f"{rtype.qualified} {_name(name)}" if name else rtype.qualified
        scope = f"in the namespace {_name(namespace)}" if namespace else "at the cluster scope"
        details: Json = {}
        if name:
            details["name"] = name
        if rtype.group:
            details["group"] = rtype.group
        details["kind"] = rtype.plural
        reason = (
            f"User {_name(self.user)} cannot {verb} resource "
            f"{_name(rtype.plural)} in API group {_name(rtype.group)} {scope}"
            if with_reason
            else ""  # SSA create before apiserver 0.32 (commit 757565c): an empty reason
        )
        raise ApiStatusError(403, "Forbidden", f"{subject} is forbidden: {reason}", details)

    @staticmethod
    def _accepts_json(request: Request) -> bool:
        accept = request.headers.get("accept", "")
        if not accept:
            return True
        types = [part.split(";")[0].strip().lower() for part in accept.split(",")]
        return any(t in ("application/json", "application/*", "*/*", "application/yaml")
                   for t in types)  # fmt: skip

    def _route(self, request: Request) -> Reply:
        path = request.path.rstrip("/") or "/"
        if path in ("/healthz", "/livez", "/readyz"):
            return Reply(200, b"ok", content_type="text/plain; charset=utf-8")
        if not self._accepts_json(request):
            raise ApiStatusError(
                406, "NotAcceptable",
                "only the following media types are accepted: application/json, "
                "application/yaml, application/vnd.kubernetes.protobuf",
            )  # fmt: skip
        segments = [unquote(s) for s in path.split("/")[1:]]
        if segments[:1] == ["api"]:
            if len(segments) == 1:
                return self._discovery(request, self._api_versions())
            if segments[1] != "v1":
                return _page_not_found()
            if len(segments) == 2:
                return self._discovery(request, self._resource_list("", "v1"))
            return self._resource_request(request, "", "v1", segments[2:])
        if segments[:1] == ["apis"]:
            groups = self._groups()
            if len(segments) == 1:
                return self._discovery(request, {
                    "kind": "APIGroupList", "apiVersion": "v1", "groups": list(groups.values())
                })  # fmt: skip
            if segments[1] not in groups:
                return _page_not_found()
            if len(segments) == 2:
                return self._discovery(request, {
                    "kind": "APIGroup", "apiVersion": "v1", **groups[segments[1]]
                })  # fmt: skip
            versions = [v["version"] for v in groups[segments[1]]["versions"]]
            if segments[2] not in versions:
                return _page_not_found()
            if len(segments) == 3:
                return self._discovery(request, self._resource_list(segments[1], segments[2]))
            return self._resource_request(request, segments[1], segments[2], segments[3:])
        if segments == ["version"]:
            return self._discovery(request, SERVER_VERSION)
        return _page_not_found()

    # -- discovery -----------------------------------------------------------------------

    @staticmethod
    def _discovery(request: Request, document: Json) -> Reply:
        if request.method != "GET":
            raise generic_error(405)
        return Reply.json(200, document)

    def _api_versions(self) -> Json:
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"{self.host}:{self.port}"}
            ],
        }

    def _groups(self) -> dict[str, Json]:
        groups: dict[str, Json] = {}
        for rtype in self.resource_types():
            if not rtype.group:
                continue
            entry = groups.setdefault(rtype.group, {"name": rtype.group, "versions": []})
            version = {"groupVersion": rtype.api_version, "version": rtype.version}
            if version not in entry["versions"]:
                entry["versions"].append(version)
        for entry in groups.values():
            entry["preferredVersion"] = entry["versions"][0]
        return groups

    def _resource_list(self, group: str, version: str) -> Json:
        resources = [
            t.discovery() for t in self.resource_types() if (t.group, t.version) == (group, version)
        ]
        document: Json = {"kind": "APIResourceList"}
        if group:  # the real /api/v1 has no apiVersion here; groups have one
            document["apiVersion"] = "v1"
        document["groupVersion"] = f"{group}/{version}" if group else version
        document["resources"] = sorted(resources, key=lambda r: r["name"])
        return document

    # -- resources -----------------------------------------------------------------------

    def _resource_request(
        self, request: Request, group: str, version: str, rest: list[str]
    ) -> Reply:
        types = {
            t.plural: t for t in self.resource_types() if (t.group, t.version) == (group, version)
        }
        namespace: Optional[str] = None
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] in types:
            rtype, namespace, tail = types[rest[2]], rest[1], rest[3:]
            if not rtype.namespaced:
                raise generic_error(404)
        elif rest[0] in types:
            rtype, tail = types[rest[0]], rest[1:]
            if rtype.namespaced and tail:  # /api/v1/configmaps/<name>: no such route
                raise generic_error(404)
        else:
            raise generic_error(404)
        if len(tail) > 1 or (tail and not tail[0]):  # subresources are not served
            raise generic_error(404)
        name = tail[0] if tail else None
        method = request.method
        if name is None:
            if method == "GET":
                watch = request.query.get("watch", "").lower() in ("true", "1")
                self._authorize("watch" if watch else "list", rtype, namespace, None)
                if watch:
                    raise generic_error(
                        405, "the server does not allow this method on the requested resource "
                        "(watch is not supported by the fake API server)",
                    )  # fmt: skip
                return self._list(request, rtype, namespace)
            if rtype.namespaced and namespace is None:
                raise generic_error(405)  # all-namespaces paths only list
            if method == "POST":
                self._authorize("create", rtype, namespace, None)
                return self._create(request, rtype, namespace)
            if method == "DELETE":
                self._authorize("deletecollection", rtype, namespace, None)
                return self._delete_collection(request, rtype, namespace)
            raise generic_error(405)
        handlers: dict[str, tuple[str, Callable[..., Reply]]] = {
            "GET": ("get", self._get),
            "PUT": ("update", self._update),
            "PATCH": ("patch", self._patch),
            "DELETE": ("delete", self._delete),
        }
        if method not in handlers:
            raise generic_error(405)
        verb, handler = handlers[method]
        self._authorize(verb, rtype, namespace, name)
        return handler(request, rtype, namespace, name)

    # bodies

    def _decode(self, request: Request, kinds: tuple[str, ...]) -> Json:
        """The request body as an object; 413, 415 and 400 as the API server answers."""
        if len(request.body) > MAX_REQUEST_BYTES:
            raise generic_error(413)
        media = request.headers.get("content-type", "application/json").split(";")[0].strip()
        media = media.lower() or "application/json"
        if media not in kinds:
            raise ApiStatusError(
                415, "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types "
                f"include: {', '.join(kinds)}",
            )  # fmt: skip
        text = request.body.decode("utf-8", errors="replace")
        if "yaml" in media and _SURROGATE_ESCAPE.search(text):
            # apply bodies are read as YAML (go-yaml), which refuses the surrogate-pair
            # escapes JSON writers use for characters beyond the BMP (json.dumps: emoji)
            raise bad_request("error decoding YAML: found invalid Unicode character escape code")
        try:
            decoded = json.loads(text)
        except ValueError as exc:
            if "yaml" not in media:
                raise bad_request(f"couldn't get version/kind; json parse error: {exc}") from None
            try:
                decoded = yaml.safe_load(text)
            except yaml.YAMLError as yaml_exc:
                raise bad_request(f"error converting YAML to JSON: {yaml_exc}") from None
        if not isinstance(decoded, dict):
            raise bad_request(
                "couldn't get version/kind; json parse error: json: cannot unmarshal "
                f"{type(decoded).__name__} into Go value of type struct"
            )  # fmt: skip
        return decoded

    @staticmethod
    def _check_identity(
        obj: Json, rtype: ResourceType, namespace: Optional[str], name: Optional[str]
    ) -> Json:
        """The type, namespace and name in a body must agree with the URL's (400 if not)."""
        if obj.get("apiVersion") not in (None, rtype.api_version):
            raise bad_request(
                f"the API version in the data ({obj.get('apiVersion')}) does not match the "
                f"expected API version ({rtype.api_version})"
            )
        if obj.get("kind") not in (None, rtype.kind):
            raise bad_request(
                f"{obj.get('kind')} in version {_name(rtype.version)} cannot be handled as a "
                f"{rtype.kind}: the kind in the data does not match the URL"
            )
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if rtype.namespaced and meta.get("namespace") not in (None, "", namespace):
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        if name is not None and meta.get("name") not in (None, "", name):
            raise bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on "
                f"the URL ({name})"
            )
        if name is not None:
            meta["name"] = name
        return meta

    @staticmethod
    def _manager(request: Request) -> str:
        """``fieldManager``, else the User-Agent up to its first ``/`` (as the server does)."""
        manager = request.query.get("fieldManager")
        if manager:
            return manager
        return request.headers.get("user-agent", "").split("/")[0] or "unknown"

    def _require_namespace(self, rtype: ResourceType, namespace: Optional[str]) -> None:
        if rtype.namespaced and namespace is not None:
            ns_type = self.resource_type("Namespace", "v1")
            if self.store.get(ns_type, None, namespace) is None:
                raise not_found("namespaces", namespace)

    def _lookup(self, rtype: ResourceType, namespace: Optional[str], name: str) -> StoredObject:
        stored = self.store.get(rtype, namespace, name)
        if stored is None:
            raise not_found(rtype.plural, name, rtype.group)
        return stored

    @staticmethod
    def _dry_run(request: Request) -> bool:
        return request.query.get("dryRun") == "All"

    # verbs

    def _get(
        self, request: Request, rtype: ResourceType, namespace: Optional[str], name: str
    ) -> Reply:
        return Reply(200, self._lookup(rtype, namespace, name).full)

    def _list(self, request: Request, rtype: ResourceType, namespace: Optional[str]) -> Reply:
        try:
            limit = int(request.query.get("limit") or 0)
        except ValueError:
            raise bad_request(f"invalid limit: {request.query.get('limit')!r}") from None
        labels = parse_label_selector(request.query.get("labelSelector", ""))
        fields = parse_field_selector(request.query.get("fieldSelector", ""))
        page = self.store.list_page(
            rtype, namespace, labels=labels, fields=fields, limit=limit,
            continue_token=request.query.get("continue") or None,
        )  # fmt: skip
        return Reply(200, self._list_body(rtype, page))

    @staticmethod
    def _list_body(rtype: ResourceType, page: Page) -> bytes:
        meta: Json = {"resourceVersion": str(page.resource_version)}
        if page.continue_token:
            meta["continue"] = page.continue_token
        if page.remaining is not None:
            meta["remainingItemCount"] = page.remaining
        head = json.dumps(
            {"kind": f"{rtype.kind}List", "apiVersion": rtype.api_version, "metadata": meta},
            separators=(",", ":"),
        ).encode()
        return head[:-1] + b',"items":[' + b",".join(s.item for s in page.items) + b"]}"

    def _create(self, request: Request, rtype: ResourceType, namespace: Optional[str]) -> Reply:
        obj = self._decode(request, ("application/json", "application/yaml"))
        meta = self._check_identity(obj, rtype, namespace, None)
        if not meta.get("name") and meta.get("generateName"):
            suffix = "".join("bcdfghjklmnpqrstvwxz2456789"[b % 27] for b in uuid.uuid4().bytes[:5])
            meta["name"] = f"{meta['generateName']}{suffix}"
        with self.store.lock:
            self._require_namespace(rtype, namespace)
            self._validate(rtype, obj)
            if self.store.get(rtype, namespace, meta["name"]) is not None:
                raise already_exists(rtype.plural, meta["name"], rtype.group)
            self._fill_new(rtype, obj, namespace)
            record_update(None, obj, self._manager(request), rtype.api_version)
            if self._dry_run(request):
                return Reply(201, StoredObject.encode(obj, rtype).full)
            stored = self.store.write(rtype, obj)
        return Reply(201, stored.full)

    def _update(
        self, request: Request, rtype: ResourceType, namespace: Optional[str], name: str
    ) -> Reply:
        obj = self._decode(request, ("application/json", "application/yaml"))
        meta = self._check_identity(obj, rtype, namespace, name)
        with self.store.lock:
            old = self._lookup(rtype, namespace, name)
            expected = meta.get("resourceVersion")
            if expected and str(expected) != old.obj["metadata"]["resourceVersion"]:
                raise conflict(rtype.plural, name, rtype.group)
            stored = self._replace(request, rtype, old, obj, self._manager(request))
        return Reply(200, stored.full)

    def _replace(
        self,
        request: Request,
        rtype: ResourceType,
        old: StoredObject,
        obj: Json,
        manager: str,
        *,
        managed: bool = False,
    ) -> StoredObject:
        """Validate and store ``obj`` in place of ``old`` (with an Update-type record
        unless ``managed``, when the caller set managedFields itself)."""
        if rtype.kind == "Namespace" and not rtype.group:
            obj.setdefault("metadata", {})["name"] = old.obj["metadata"]["name"]
        self._validate(rtype, obj)
        frozen = rtype.kind == "ConfigMap" and not rtype.group and old.obj.get("immutable")
        if frozen and any(old.obj.get(k) != obj.get(k) for k in ("data", "binaryData")):
            raise invalid(rtype.kind, old.obj["metadata"]["name"], [FieldError(
                "data", "Forbidden", "field is immutable when `immutable` is set"
            )])  # fmt: skip
        self._carry_over(rtype, old.obj, obj)
        obj.pop("status", None)  # status is a subresource: writes to the object keep it
        if old.obj.get("status") is not None:
            obj["status"] = copy.deepcopy(old.obj["status"])
        if not managed:
            obj["metadata"]["managedFields"] = old.obj["metadata"].get("managedFields")
            record_update(old.obj, obj, manager, rtype.api_version)
        if self._dry_run(request):
            return StoredObject.encode(obj, rtype)
        return self.store.write(rtype, obj)

    def _delete(
        self, request: Request, rtype: ResourceType, namespace: Optional[str], name: str
    ) -> Reply:
        options: Json = {}
        if request.body.strip():
            options = self._decode(request, ("application/json", "application/yaml"))
        preconditions = options.get("preconditions") or {}
        with self.store.lock:
            old = self._lookup(rtype, namespace, name).obj["metadata"]
            for key, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
                wanted = preconditions.get(key)
                if wanted and wanted != old.get(key):
                    raise conflict(
                        rtype.plural, name, rtype.group,
                        f"Precondition failed: {label} in precondition: {wanted}, {label} in "
                        f"object meta: {old.get(key)}",
                    )  # fmt: skip
            if not self._dry_run(request):
                self.delete_object(rtype, name, namespace)
        details: Json = {"name": name}
        if rtype.group:
            details["group"] = rtype.group
        details["kind"] = rtype.plural
        details["uid"] = old.get("uid")
        # metav1.Status with omitempty message, reason and code (as DELETE answers)
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
        return Reply.json(200, {**body, "details": details})

    def _delete_collection(
        self, request: Request, rtype: ResourceType, namespace: Optional[str]
    ) -> Reply:
        labels = parse_label_selector(request.query.get("labelSelector", ""))
        fields = parse_field_selector(request.query.get("fieldSelector", ""))
        with self.store.lock:
            page = self.store.list_page(rtype, namespace, labels=labels, fields=fields)
            if not self._dry_run(request):
                for stored in page.items:
                    meta = stored.obj["metadata"]
                    self.delete_object(rtype, meta["name"], meta.get("namespace"))
                page.resource_version = self.store.resource_version
        return Reply(200, self._list_body(rtype, page))

    # -- PATCH ---------------------------------------------------------------------------

    _PATCH_TYPES = (
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
    )

    def _patch(
        self, request: Request, rtype: ResourceType, namespace: Optional[str], name: str
    ) -> Reply:
        patch = self._decode(request, self._PATCH_TYPES)
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media == "application/apply-patch+yaml":
            return self._apply(request, rtype, namespace, name, patch)
        if "force" in request.query:  # ValidatePatchOptions: a 422 on PatchOptions
            raise _patch_options_invalid(
                FieldError("force", "Forbidden", "may not be specified for non-apply patch")
            )
        with self.store.lock:
            old = self._lookup(rtype, namespace, name)
            expected = (patch.get("metadata") or {}).get("resourceVersion")
            if expected and str(expected) != old.obj["metadata"]["resourceVersion"]:
                raise conflict(rtype.plural, name, rtype.group)
            merged = merge_patch(copy.deepcopy(old.obj), patch)
            self._check_identity(merged, rtype, namespace, name)
            stored = self._replace(request, rtype, old, merged, self._manager(request))
        return Reply(200, stored.full)

    def _apply(
        self,
        request: Request,
        rtype: ResourceType,
        namespace: Optional[str],
        name: str,
        config: Json,
    ) -> Reply:
        """Server-side apply (see the class docstring for the field granularity)."""
        manager = request.query.get("fieldManager", "")
        if not manager:
            raise _patch_options_invalid(
                FieldError("fieldManager", "Required value", "is required for apply patch")
            )
        if len(manager) > 128:
            raise _patch_options_invalid(
                FieldError("fieldManager", "Too long", "must have at most 128 bytes", manager, True)
            )
        force_text = request.query.get("force", "false").lower()
        if force_text not in ("true", "false", "1", "0", ""):
            raise bad_request(f"invalid force parameter: {force_text!r}")
        force = force_text in ("true", "1")
        if config.get("apiVersion") != rtype.api_version:
            raise bad_request(
                "Incorrect version specified in apply patch. Specified patch version: "
                f"{config.get('apiVersion') or ''}, expected: {rtype.api_version}"
            )
        if config.get("kind") != rtype.kind:
            raise bad_request(
                "Incorrect kind specified in apply patch. Specified patch kind: "
                f"{config.get('kind') or ''}, expected: {rtype.kind}"
            )
        self._check_identity(config, rtype, namespace, name)
        config["metadata"].pop("managedFields", None)
        config.pop("status", None)
        applied = field_paths(config)
        with self.store.lock:
            old = self.store.get(rtype, namespace, name)
            if old is None:
                # An apply that creates the object is also authorized as a create, after
                # admission (a missing namespace is a 404 first). Before 1.32 that denial's
                # message has no reason at all: `configmaps "x" is forbidden: `.
                self._require_namespace(rtype, namespace)
                self._authorize("create", rtype, namespace, name, with_reason=False)
                obj = copy.deepcopy(config)
                meta = obj["metadata"]
                for key in ("uid", "resourceVersion", "creationTimestamp", "generation"):
                    meta.pop(key, None)
                self._validate(rtype, obj)
                self._fill_new(rtype, obj, namespace)
                entry = ManagerEntry(manager, "Apply", rtype.api_version, now_timestamp(), applied)
                obj["metadata"]["managedFields"] = [entry.render()] if applied else []
                if self._dry_run(request):
                    return Reply(201, StoredObject.encode(obj, rtype).full)
                return Reply(201, self.store.write(rtype, obj).full)
            obj = self._merge_applied(rtype, old.obj, config, manager, applied, force)
            stored = self._replace(request, rtype, old, obj, manager, managed=True)
        return Reply(200, stored.full)

    @staticmethod
    def _merge_applied(
        rtype: ResourceType,
        current: Json,
        config: Json,
        manager: str,
        applied: set[FieldPath],
        force: bool,
    ) -> Json:
        """The object after ``manager`` applies ``config`` to ``current`` (409 on conflicts)."""
        entries = managers_of(current)
        mine = next((e for e in entries if (e.manager, e.operation) == (manager, "Apply")), None)
        others = [e for e in entries if e is not mine]
        conflicts: dict[str, list[FieldPath]] = {}
        for entry in others:
            for path in sorted(entry.paths & applied):
                if value_at(current, path) != value_at(config, path):
                    conflicts.setdefault(entry.manager, []).append(path)
        if conflicts and not force:
            raise apply_conflict(rtype, current["metadata"]["name"], conflicts)
        taken = {p for paths in conflicts.values() for p in paths}
        for entry in others:
            entry.paths -= taken
        still_owned = set().union(*(e.paths for e in others)) if others else set()
        obj = copy.deepcopy(current)
        for path in (mine.paths if mine else set()) - applied - still_owned:
            _delete_path(obj, path)
        for path in applied:
            _set_path(obj, path, copy.deepcopy(value_at(config, path)))
        if mine is None:
            mine = ManagerEntry(manager, "Apply", rtype.api_version, "", set())
            entries.append(mine)
        mine.paths = set(applied)
        mine.time = now_timestamp()
        obj["metadata"]["managedFields"] = [e.render() for e in entries if e.paths]
        return obj


# (end of FakeApiServer)


def _page_not_found() -> Reply:
    """What the API server's mux answers for a path it does not serve."""
    return Reply(404, b"404 page not found\n", content_type="text/plain; charset=utf-8")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (``null`` deletes a key; lists are replaced)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _set_path(obj: Json, path: FieldPath, value: Any) -> None:
    node = obj
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value


def _delete_path(obj: Json, path: FieldPath) -> None:
    parents: list[tuple[Json, str]] = []
    node: Any = obj
    for part in path[:-1]:
        if not isinstance(node, dict) or not isinstance(node.get(part), dict):
            return
        parents.append((node, part))
        node = node[part]
    node.pop(path[-1], None)
    for parent, part in reversed(parents):  # drop maps the removal left empty (not metadata)
        if parent[part] or part == "metadata":
            break
        del parent[part]


def _render_path(path: FieldPath) -> str:
    return "".join(f".{part}" for part in path)


def apply_conflict(
    rtype: ResourceType, name: str, conflicts: Mapping[str, list[FieldPath]]
) -> ApiStatusError:
    """409 Conflict for an apply without ``force``, worded as the field manager words it."""
    total = sum(len(paths) for paths in conflicts.values())
    parts: list[str] = []
    causes: list[Json] = []
    for manager, paths in conflicts.items():
        who = f"{_name(manager)} using {rtype.api_version}"
        if len(paths) == 1:
            parts.append(f"conflict with {who}: {_render_path(paths[0])}")
        else:
            listed = "\n".join(f"- {_render_path(p)}" for p in paths)
            parts.append(f"conflicts with {who}:\n{listed}")
        causes.extend(
            {"reason": "FieldManagerConflict", "message": f"conflict with {who}",
             "field": _render_path(p)}
            for p in paths
        )  # fmt: skip
    plural = "conflict" if total == 1 else "conflicts"
    message = f"Apply failed with {total} {plural}: " + "\n".join(parts)
    details: Json = {"name": name}
    if rtype.group:
        details["group"] = rtype.group
    details["kind"] = rtype.plural
    details["causes"] = causes
    return ApiStatusError(409, "Conflict", message, details)


# --------------------------------------------------------------------------------------
# HTTP plumbing

_MAX_READ_BYTES = 64 * 1024 * 1024  # larger bodies are not even read: 413 and close


class _HttpServer(ThreadingHTTPServer):
    """A threading HTTP server whose connections are TLS, handshaken in their own thread."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        api: FakeApiServer,
        context: ssl.SSLContext,
    ) -> None:
        self.api = api
        self.context = context
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Wrap the accepted socket in TLS here (the connection's thread), then serve it."""
        try:
            request.settimeout(30)
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with self._open_lock:
            self._open.add(tls)
        try:
            super().finish_request(tls, client_address)
        except (ssl.SSLError, OSError):
            pass
        finally:
            with self._open_lock:
                self._open.discard(tls)
            with contextlib.suppress(OSError):
                tls.close()

    def close_connections(self) -> None:
        """Shut every open connection down (kept-alive clients must not outlive stop())."""
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: clients going away is normal in tests."""


class _Handler(BaseHTTPRequestHandler):
    """Turns HTTP/1.1 requests into :class:`Request` objects and replies into bytes."""

    protocol_version = "HTTP/1.1"
    server: _HttpServer

    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr."""

    def send_response(self, code: int, message: Optional[str] = None) -> None:
        """Like the base class, without a ``Server`` header (the API server sends none)."""
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def _read_body(self) -> Optional[bytes]:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            size = 0
            while True:
                line = self.rfile.readline(1024)
                length = int(line.split(b";")[0].strip() or b"0", 16)
                if length == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                size += length
                if size > _MAX_READ_BYTES:
                    return None
                chunks.append(self.rfile.read(length))
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_READ_BYTES:
            return None
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        split = urlsplit(self.path)
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self._send(Reply.error(bad_request("malformed request body framing")))
            return
        if body is None:
            self.close_connection = True
            self._send(Reply.error(generic_error(413)))
            return
        request = Request(
            self.command,
            split.path,
            dict(parse_qsl(split.query, keep_blank_values=True)),
            {name.lower(): value for name, value in self.headers.items()},
            body,
        )
        reply = self.server.api.handle(request)
        if reply.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Type", reply.content_type)
        self.send_header("X-Kubernetes-Pf-Flowschema-Uid", "fake-flowschema")
        self.send_header("X-Kubernetes-Pf-Prioritylevel-Uid", "fake-prioritylevel")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()  # TCP_NODELAY: the body's segments are not held back
        self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve


# --------------------------------------------------------------------------------------
# command line


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m tests.fake_apiserver``: serve until Ctrl-C (or SIGTERM)."""
    import argparse
    import signal

    # Ctrl-C must stop it even when started from a shell that ignores SIGINT (a background
    # job, nohup): Python keeps an inherited "ignore".
    signal.signal(signal.SIGINT, signal.default_int_handler)

    parser = argparse.ArgumentParser(
        prog="python -m tests.fake_apiserver",
        description="A fake Kubernetes API server (HTTPS, bearer token) for manual tests.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: an ephemeral port")
    parser.add_argument("--token", default="test-token", help="the accepted bearer token")
    parser.add_argument("--nodes", type=int, default=0, help="seed Nodes node-0 ... node-N-1")
    parser.add_argument(
        "--namespace", action="append", default=[], help="create this Namespace (repeatable)"
    )
    parser.add_argument("--kubeconfig", type=Path, help="also write a kubeconfig here")
    args = parser.parse_args(argv)

    server = FakeApiServer(args.token, host=args.host, port=args.port)
    for namespace in args.namespace:
        server.add_namespace(namespace)
    for index in range(args.nodes):
        server.add_node(f"node-{index}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with server:
        print(f"URL:   {server.url}", flush=True)
        print(f"CA:    {server.ca_file}", flush=True)
        print(f"Token: {server.token}", flush=True)
        if args.kubeconfig:
            print(f"Kubeconfig: {server.write_kubeconfig(args.kubeconfig)}", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
