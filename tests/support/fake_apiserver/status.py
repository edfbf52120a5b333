"""``Status`` bodies and the errors that carry them, worded as the API server words them.

Every layer of the fake raises :class:`ApiStatusError`; the request handler turns it into a
``Status`` reply. The constructors (:func:`not_found`, :func:`conflict`, :func:`invalid`
...) build the messages and ``details`` of ``k8s.io/apimachinery/pkg/api/errors``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Optional

from tests.support.fake_apiserver.limits import MAX_REQUEST_BYTES

Json = dict[str, Any]

EXPIRED_CONTINUE_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter."
)


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


def quoted(value: str) -> str:
    """``"x"`` as Go's ``%q`` writes it (what the API server's messages use)."""
    return json.dumps(value)


def not_found(resource: str, name: str, group: str = "") -> ApiStatusError:
    """404 for a missing object: ``configmaps "x" not found``."""
    qualified = f"{resource}.{group}" if group else resource
    details: Json = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = resource
    return ApiStatusError(404, "NotFound", f"{qualified} {quoted(name)} not found", details)


def already_exists(resource: str, name: str, group: str = "") -> ApiStatusError:
    """409 AlreadyExists for a create of an existing object."""
    qualified = f"{resource}.{group}" if group else resource
    details: Json = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = resource
    return ApiStatusError(
        409, "AlreadyExists", f"{qualified} {quoted(name)} already exists", details
    )


def conflict(
    resource: str, name: str, group: str = "", why: Optional[str] = None
) -> ApiStatusError:
    """409 Conflict: the object changed since the client read it (or a precondition failed)."""
    qualified = f"{resource}.{group}" if group else resource
    message = (
        f"Operation cannot be fulfilled on {qualified} {quoted(name)}: "
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
        422, "Invalid", f"{qualified} {quoted(name)} is invalid: {summary}", details
    )


def patch_options_invalid(error: FieldError) -> ApiStatusError:
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
