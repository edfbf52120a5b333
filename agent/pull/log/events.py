"""One pass over a pull log: the events that matter, the tool that wrote it, its final error.

The lines that matter come from containers/image and have not changed since 2021 (see
docs/pull-resolution.md, the log lines a parser needs):

* ``Trying to access "R"`` starts an attempt on source R (a mirror or the source itself);
* ``Accessing "R" failed: E`` ends it with error E;
* ``Failed, retrying in … (n/m). Error: …`` (podman's retry loop) starts the whole
  candidate list again;
* the final error is podman's plain-stderr ``Error: …`` (continuation lines included) or
  skopeo's ``level=fatal msg="…"``; with several candidates it reads
  ``(Mirrors also failed: [R1: E1]\\n[R2: E2]): PRIMARY: E``;
* CRI-O's ``Checking image status: X``, ``Pulling image: X`` and ``Pulled image: Y``
  frame its pulls (it logs ``Trying to access`` at info level, ``Accessing … failed`` at
  debug level only).

Everything else is ignored, in particular the look-alikes: ``Trying "X" ...`` (local storage
lookup), ``Trying to pull X...`` (one per short-name candidate, plain stderr),
``Ping … status 401`` (a 401 ping is normal), ``Content-Type from manifest GET`` (logged
before the status check), ``GET`` lines, ``Attempting to pull candidate``,
``Error pulling candidate`` and the retry warning's own copy of the error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Optional

from agent.pull.log.lines import (
    KubeletPullError,
    LogMessage,
    NewRun,
    PlainStderr,
    Progress,
    logical_lines,
)
from agent.pull.log.model import Tool
from agent.pull.log.redact import redact

__all__ = ["Event", "EventKind", "Scan"]

# A line is looked at closely only when it contains one of these (the rest is skipped fast).
_KEYWORDS = (
    "Trying to access",
    "Accessing ",
    "retrying",
    "Loading registries configuration",
    "shutdown signal",
    "fatal",
    "FATA",  # terminal format: `FATA[0000] Error parsing image name …`
    "Pulling image",
    "Pulled image",
    "Checking image status",
    "filtering at log level",
    "PersistentPreRunE",
    "Using registries.d",
    "Downloading /v2/",
    "Skipping blob",
)

_TRY = re.compile(r"\s*Trying to access \"([^\"]*)\"\s*\Z")
_FAIL = re.compile(r"\s*Accessing \"([^\"]*)\" failed: (.*)\Z", re.DOTALL)
_CONFIG = re.compile(r"\s*Loading registries configuration \"([^\"]*)\"")
_RETRY = re.compile(r"\s*Failed, retrying in ", re.IGNORECASE)
_RETRY_ERROR = re.compile(r"\. Error: (.*)\Z", re.DOTALL)
_RESOLVED_ALIAS = re.compile(r"Resolved \"([^\"\s]+)\" as an alias")
_TRYING_TO_PULL = re.compile(r"Trying to pull (\S+?)\.\.\.")
_RETRYING_PULL = re.compile(r"Pull failed\. Retrying (\S+?)\.\.\.")
_PULLING_POLICY = re.compile(r"\s*Pulling image (\S+) \(policy: ")

# try/fail: an attempt and its failure; retry: podman's retry warning (message: its error);
# pulling/pulled/checking: CRI-O's frame of a pull; image: a new pull of an image starts
# (podman's `Trying to pull X...`, `Pulling image X (policy: …)`, a kubelet event); error: a
# final error (podman's `Error:`, skopeo's fatal, the kubelet's text); progress: a line shown
# only once a source served the manifest (message "complete" when the pull finished); run:
# another run of a tool starts (a new `Loading registries configuration`, a new PID of a
# journal identifier seen before).
EventKind = Literal[
    "try",
    "fail",
    "retry",
    "pulling",
    "pulled",
    "checking",
    "image",
    "error",
    "progress",
    "run",
    "alias",
]
_CRIO_LINES: tuple[tuple[str, EventKind], ...] = (
    ("Pulling image: ", "pulling"),
    ("Pulled image: ", "pulled"),
    ("Checking image status: ", "checking"),
)


@dataclass(frozen=True)
class Event:
    """A line that matters, in the order of the log."""

    kind: EventKind
    value: str  # location / image
    message: str = ""  # the error text of a "fail"
    time: Optional[str] = None
    line: int = 0  # index of the raw line it was read from (set for "image" events)


class Scan:
    """Everything :mod:`.podman` and :mod:`.crio_journal` need from a log, read in one pass."""

    def __init__(self, text: str) -> None:
        self.events: list[Event] = []
        self.config_files: dict[str, None] = {}
        self.shutdown = False
        self.final_error: Optional[str] = None
        self.crio_ident = False
        self.crio_message = False
        self.podman_strong = False
        self.podman_weak = False
        self.skopeo_fatal = False
        self.containers_image = False
        self.kubelet = False
        self._position = [0]
        for line in logical_lines(text, _KEYWORDS, self._position):
            if isinstance(line, PlainStderr):
                self._plain_stderr(line)
            elif isinstance(line, Progress):
                self.events.append(Event("progress", "", "complete" if line.complete else ""))
            elif isinstance(line, NewRun):
                self.events.append(Event("run", line.ident, line=self._position[0]))
            elif isinstance(line, KubeletPullError):
                self.kubelet = True
                self.events.append(
                    Event("image", line.image, time=line.time, line=self._position[0])
                )
                self.events.append(Event("error", line.image, redact(line.error), line.time))
            else:
                self._message(line)

    @property
    def tool(self) -> Tool:
        if self.crio_ident:
            return "crio"
        if self.podman_strong:
            return "podman"
        if self.crio_message:
            return "crio"
        if self.skopeo_fatal:
            return "skopeo"
        if self.podman_weak:
            return "podman"
        if self.containers_image:
            return "skopeo"
        return "unknown"

    def _plain_stderr(self, line: PlainStderr) -> None:
        self.podman_weak = True
        if line.is_error:
            self.final_error = redact(line.text)
            self.events.append(Event("error", "", self.final_error))
            return
        alias = _RESOLVED_ALIAS.match(line.text)
        if alias is not None:
            self.events.append(Event("alias", alias.group(1), line=self._position[0]))
            return
        for pattern in (_TRYING_TO_PULL, _RETRYING_PULL):
            match = pattern.match(line.text)
            if match is not None:
                self.events.append(Event("image", match.group(1), line=self._position[0]))

    def _message(self, message: LogMessage) -> None:
        msg = message.msg
        if message.ident is not None and message.ident.lower().startswith(("crio", "cri-o")):
            self.crio_ident = True
        if message.level == "fatal":
            self.skopeo_fatal = True
            self.final_error = redact(msg)
            self.events.append(Event("error", "", self.final_error, message.time))
            return
        if _RETRY.match(msg):  # first: its error text may quote anything
            error = _RETRY_ERROR.search(msg)  # raw: only attempts read from it are kept (redacted)
            self.events.append(Event("retry", "", error.group(1) if error else ""))
            return
        if "Trying to access" in msg:
            match = _TRY.match(msg)
            if match is not None:
                self.containers_image = True
                self.events.append(Event("try", match.group(1), time=message.time))
            return
        if "Accessing " in msg:
            match = _FAIL.match(msg)
            if match is not None:
                self.events.append(Event("fail", match.group(1), match.group(2), message.time))
            return
        if "Loading registries configuration" in msg:
            match = _CONFIG.match(msg)
            if match is not None:
                self.containers_image = True
                self.config_files.setdefault(match.group(1))
                self.events.append(Event("run", "config", line=self._position[0]))
            return
        if "Received shutdown signal" in msg:
            self.shutdown = True
            return
        stripped = msg.strip()
        for prefix, kind in _CRIO_LINES:
            if stripped.startswith(prefix):
                self.crio_message = True
                self.events.append(Event(kind, stripped[len(prefix) :].strip(), time=message.time))
                return
        if stripped.startswith(("Downloading /v2/", "Skipping blob ")):
            self.events.append(Event("progress", ""))
            return
        pulling = _PULLING_POLICY.match(msg)
        if pulling is not None:
            self.podman_strong = True
            self.events.append(
                Event("image", pulling.group(1), "policy", message.time, self._position[0])
            )
        elif "filtering at log level" in msg or "PersistentPreRunE(" in msg:
            self.podman_strong = True
        elif "Using registries.d" in msg:
            self.containers_image = True
