"""Injected faults: answers with any status (and ``Retry-After``), and dropped connections.

Faults are checked before authentication, in the order they were injected; each one
answers a number of matching requests, then is forgotten.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Optional

from tests.support.fake_apiserver.http import Reply
from tests.support.fake_apiserver.status import generic_error, status_body


@dataclass
class _Fault:
    """A pending :meth:`FaultPlan.inject`."""

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

    def reply(self) -> Reply:
        """A ``Status`` with the reason the API server uses for the status."""
        error = generic_error(self.status, self.message)
        if self.retry_after is not None:
            seconds = self.retry_after
            text = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
            error.headers["Retry-After"] = text
            error.details = {"retryAfterSeconds": int(seconds)}
        if self.status == 401:
            return Reply.json(401, status_body(401, "Unauthorized", "Unauthorized"))
        return Reply.error(error)


@dataclass
class _Drop:
    """A pending :meth:`FaultPlan.drop_connections`."""

    remaining: int
    path_prefix: Optional[str]


class FaultPlan:
    """The pending faults and drops."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._drops: list[_Drop] = []

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

    def clear(self) -> None:
        """Forget pending faults and drops."""
        with self._lock:
            self._faults.clear()
            self._drops.clear()

    def take(self, method: str, path: str) -> Optional[Reply]:
        """The reply of the first drop, else the first fault, that answers this request
        (using it up); None when no fault applies."""
        with self._lock:
            for drop in self._drops:
                if drop.remaining > 0 and (
                    drop.path_prefix is None or path.startswith(drop.path_prefix)
                ):
                    drop.remaining -= 1
                    self._drops = [d for d in self._drops if d.remaining > 0]
                    return Reply(0, drop=True)
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    self._faults = [f for f in self._faults if f.remaining > 0]
                    return fault.reply()
        return None
