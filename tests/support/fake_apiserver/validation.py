"""What the API server refuses, with its messages (``k8s.io/apimachinery/pkg/util/validation``).

* object validation: DNS-1123 names, label keys and values, annotation keys and their
  256 KiB total, owner references, ConfigMap keys and the 1 MiB ConfigMap limit, the
  ``immutable`` ConfigMap, core/v1 Events' namespace and reporting fields
  (:func:`validate_object`, :func:`check_immutable`, :func:`event_errors`);
* request bodies: the 3 MiB limit, the accepted media types, JSON or YAML that decodes to
  an object (:func:`decode_body`), and a body's type, namespace and name that agree with
  the URL's (:func:`check_identity`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, Optional, Union

import yaml

from tests.support.fake_apiserver.kinds import ResourceType
from tests.support.fake_apiserver.limits import (
    MAX_ANNOTATIONS_BYTES,
    MAX_CONFIGMAP_BYTES,
    MAX_REQUEST_BYTES,
)
from tests.support.fake_apiserver.status import (
    ApiStatusError,
    FieldError,
    Json,
    bad_request,
    generic_error,
    invalid,
    quoted,
)

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

# --------------------------------------------------------------------------------------
# names, labels, annotations


def _limited_pattern_errors(
    value: str, limit: int, pattern: Union[str, re.Pattern[str]], message: str
) -> list[str]:
    """apimachinery's two checks of a name-like string: its length, then its pattern."""
    problems = []
    if len(value) > limit:
        problems.append(f"must be no more than {limit} characters")
    if not re.fullmatch(pattern, value):
        problems.append(message)
    return problems


def dns1123_subdomain_errors(value: str) -> list[str]:
    """Why ``value`` is not a DNS-1123 subdomain (empty when it is one)."""
    return _limited_pattern_errors(value, 253, _DNS1123_SUBDOMAIN, DNS1123_SUBDOMAIN_MESSAGE)


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
    return _limited_pattern_errors(value, 63, _LABEL_VALUE, LABEL_VALUE_MESSAGE)


def _dns_label_errors(value: str) -> list[str]:
    return _limited_pattern_errors(value, 63, _DNS1123_LABEL, DNS1123_LABEL_MESSAGE)


def _string_map(obj: Any, path: str) -> dict[str, str]:
    """A map of strings to strings, or 400 (what decoding into a Go map would answer)."""
    if obj is None:
        return {}
    if not isinstance(obj, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in obj.items()
    ):
        raise bad_request(f"{path} must be a map of strings to strings")
    return obj


def _data_size(value: str) -> int:
    return len(value.encode())


# --------------------------------------------------------------------------------------
# objects


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


# core/v1 Event limits (k8s.io/kubernetes/pkg/apis/core/validation/events.go)
EVENT_REPORTING_INSTANCE_MAX = 128
EVENT_ACTION_MAX = 128
EVENT_REASON_MAX = 128
EVENT_NOTE_MAX = 1024


def event_errors(obj: Json) -> list[FieldError]:
    """``legacyValidateEvent`` as a core/v1 create or update gets it: an event about a
    cluster-scoped object (``involvedObject.namespace`` empty, e.g. a Node) lives in
    ``default`` (or no namespace), one about a namespaced object in that object's
    namespace; a "new" event (``eventTime`` set) also needs its reporting component and
    instance, action and reason, within their lengths."""
    errors: list[FieldError] = []
    namespace = str((obj.get("metadata") or {}).get("namespace") or "")
    involved = obj.get("involvedObject") or {}
    if not isinstance(involved, dict):
        raise bad_request("involvedObject must be an object")
    involved_ns = str(involved.get("namespace") or "")
    mismatch = FieldError(
        "involvedObject.namespace", "Invalid value", "does not match event.namespace",
        involved_ns, True,
    )  # fmt: skip
    if not obj.get("eventTime"):
        if (not involved_ns and namespace not in ("", "default")) or (
            involved_ns and namespace != involved_ns
        ):
            errors.append(mismatch)
    else:
        if not involved_ns and namespace not in ("default", "kube-system"):
            errors.append(mismatch)
        component = str(obj.get("reportingComponent") or "")
        if not component:
            errors.append(FieldError("reportingComponent", "Required value", ""))
        for field_name, limit in (
            ("reportingInstance", EVENT_REPORTING_INSTANCE_MAX),
            ("action", EVENT_ACTION_MAX),
            ("reason", EVENT_REASON_MAX),
        ):
            value = str(obj.get(field_name) or "")
            if not value:
                errors.append(FieldError(field_name, "Required value", ""))
            elif len(value) > limit:
                errors.append(FieldError(
                    field_name, "Invalid value", f"can have at most {limit} characters", "", True
                ))  # fmt: skip
        if len(str(obj.get("message") or "")) > EVENT_NOTE_MAX:
            errors.append(FieldError(
                "message", "Invalid value", f"can have at most {EVENT_NOTE_MAX} characters",
                "", True,
            ))  # fmt: skip
    for problem in dns1123_subdomain_errors(namespace) if namespace else []:
        errors.append(FieldError("namespace", "Invalid value", problem, namespace, True))
    return errors


def validate_object(rtype: ResourceType, obj: Json) -> None:
    """400 when ``metadata`` is not an object, 422 Invalid with every field error found."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise bad_request("metadata must be an object")
    errors = validate_metadata(obj, rtype)
    if rtype.is_core_configmap:
        errors.extend(configmap_errors(obj))
    if rtype.kind == "Event" and not rtype.group:
        errors.extend(event_errors(obj))
    if errors:
        raise invalid(rtype.kind, str(meta.get("name") or ""), errors, rtype.group)


def check_immutable(rtype: ResourceType, old: Json, new: Json) -> None:
    """422 when an update changes the data of a ConfigMap marked ``immutable``."""
    frozen = rtype.is_core_configmap and old.get("immutable")
    if frozen and any(old.get(k) != new.get(k) for k in ("data", "binaryData")):
        raise invalid(rtype.kind, old["metadata"]["name"], [FieldError(
            "data", "Forbidden", "field is immutable when `immutable` is set"
        )])  # fmt: skip


# --------------------------------------------------------------------------------------
# request bodies

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def decode_body(body: bytes, content_type: str, kinds: tuple[str, ...]) -> Json:
    """A request body as an object; 413, 415 and 400 as the API server answers.

    ``content_type`` is the request's header (``application/json`` when absent) and
    ``kinds`` the media types the endpoint accepts."""
    if len(body) > MAX_REQUEST_BYTES:
        raise generic_error(413)
    media = content_type.split(";")[0].strip()
    media = media.lower() or "application/json"
    if media not in kinds:
        raise ApiStatusError(
            415, "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types "
            f"include: {', '.join(kinds)}",
        )  # fmt: skip
    text = body.decode("utf-8", errors="replace")
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


def check_identity(
    obj: Json, rtype: ResourceType, namespace: Optional[str], name: Optional[str]
) -> Json:
    """The type, namespace and name in a body must agree with the URL's (400 if not);
    the body's metadata, with the URL's name set."""
    if obj.get("apiVersion") not in (None, rtype.api_version):
        raise bad_request(
            f"the API version in the data ({obj.get('apiVersion')}) does not match the "
            f"expected API version ({rtype.api_version})"
        )
    if obj.get("kind") not in (None, rtype.kind):
        raise bad_request(
            f"{obj.get('kind')} in version {quoted(rtype.version)} cannot be handled as a "
            f"{rtype.kind}: the kind in the data does not match the URL"
        )
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise bad_request("metadata must be an object")
    if rtype.namespaced and meta.get("namespace") not in (None, "", namespace):
        raise bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    if name is not None and meta.get("name") not in (None, "", name):
        raise bad_request(
            f"the name of the object ({meta.get('name')}) does not match the name on "
            f"the URL ({name})"
        )
    if name is not None:
        meta["name"] = name
    return meta
