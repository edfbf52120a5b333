"""A CRI-O journal excerpt (``journalctl -u crio``) read as a list of pulls.

CRI-O logs only ``Trying to access`` at info level (``Accessing … failed`` is debug), between
``Pulling image: X`` and ``Pulled image: Y``; :func:`parse_crio_journal` groups those lines
into pulls. Limitation: CRI-O's own ``Trying to access`` lines carry no request id, so pulls
that run at the same time are told apart only by the digest/tag and the repository of the
location: an attempt goes to the open pull of its digest/tag whose image or earlier attempts
share the most trailing repository path components with it (mirrors keep the path below
the rewritten prefix), so concurrent pulls of different repositories with the same tag or
digest separate when their mirror paths keep the repository name; two concurrent pulls of
the same reference, or mirror paths unrelated to both sources, cannot be separated. Without
``Pulling image`` lines, a location tried a second time starts a new pull, so older CRI-O's
double walk of the candidate list appears as two pulls.
"""

from __future__ import annotations

from typing import Optional

from agent.pull.log.attempts import (
    Pending,
    Try,
    dangling_outcome,
    final_error_sources,
    freeze,
    served_by,
)
from agent.pull.log.events import Event, Scan
from agent.pull.log.inferred import error_attempts, qualified
from agent.pull.log.model import Attempt, JournalPull, Outcome, PullLog

__all__ = ["crio_pull_log", "parse_crio_journal"]


def _ref_key(ref: str) -> str:
    """What identifies the image across mirrors: the digest, else ``:tag`` (``:latest``)."""
    at = ref.rfind("@")
    if at >= 0:
        return ref[at + 1 :]
    last = ref.rsplit("/", 1)[-1]
    colon = last.find(":")
    return last[colon:] if colon >= 0 else ":latest"


def _repository(ref: str) -> tuple[str, ...]:
    """The repository of a reference as ``(host, *path)``, without tag and digest."""
    at = ref.find("@")
    if at >= 0:
        ref = ref[:at]
    parts = ref.split("/")
    colon = parts[-1].find(":")
    if colon >= 0:
        parts[-1] = parts[-1][:colon]
    return tuple(parts)


def _shared_suffix(one: tuple[str, ...], other: tuple[str, ...]) -> int:
    """How many trailing components two repositories have in common (all: the same one)."""
    count = 0
    for mine, theirs in zip(reversed(one), reversed(other)):
        if mine != theirs:
            break
        count += 1
    return count


# Repositories remembered per pull for attributing attempts: a candidate list is a few
# mirrors and the source; the bound keeps a pathological journal linear.
_MAX_REPOSITORIES = 8


class _Pull:
    __slots__ = (
        "error",
        "image",
        "locations",
        "pulled",
        "repositories",
        "repository",
        "requested",
        "time",
        "tries",
        "walk",
        "walked",
    )

    def __init__(self, image: Optional[str], time: Optional[str]) -> None:
        self.image = image  # from Pulling image / Checking image status
        self.repository = _repository(image) if image is not None else None
        self.requested = image is not None
        self.time = time
        self.tries: list[Try] = []
        self.walk = 0  # where the last walk of the candidate list starts in tries
        self.walked: set[str] = set()  # the locations of that walk
        self.locations: set[str] = set()
        self.repositories: list[tuple[str, tuple[str, ...]]] = []  # (location, its repository)
        self.pulled: Optional[str] = None
        self.error: Optional[str] = None  # the kubelet's error for this pull

    @property
    def reference(self) -> str:
        if self.image is not None:
            return self.image
        return self.tries[0].location if self.tries else ""

    def add(self, attempt: Try) -> None:
        if self.requested and attempt.location in self.walked:
            # CRI-O opens the image source twice per pull (two `Trying to access` walks,
            # openshift-docs#35283): the last walk is the one that decides
            self.walk = len(self.tries)
            self.walked = set()
        self.walked.add(attempt.location)
        self.tries.append(attempt)
        if attempt.location not in self.locations:
            self.locations.add(attempt.location)
            if len(self.repositories) < _MAX_REPOSITORIES:
                self.repositories.append((attempt.location, _repository(attempt.location)))

    def matches(self, ref: str) -> bool:
        return _ref_key(self.reference) == _ref_key(ref)

    def affinity(self, repository: tuple[str, ...], other_than: Optional[str] = None) -> int:
        """The most trailing components ``repository`` shares with this pull's image or an
        attempt (except at ``other_than``): a mirror keeps the path below the rewritten
        prefix, and the mirrors of one source usually share their paths."""
        best = _shared_suffix(self.repository, repository) if self.repository else 0
        for location, tried in self.repositories:
            if location != other_than:
                best = max(best, _shared_suffix(tried, repository))
        return best


_MAX_OPEN_PULLS = 16


class _Journal:
    """Groups ``Trying to access`` lines into pulls (see the module docstring)."""

    def __init__(self, events: list[Event]) -> None:
        self.pulls: list[_Pull] = []
        self._open: list[_Pull] = []  # not yet ended by `Pulled image`, oldest first
        self._pending = Pending()
        self._checked: Optional[str] = None  # last `Checking image status: X`
        for event in events:
            self._event(event)

    def _start(self, image: Optional[str], time: Optional[str]) -> _Pull:
        pull = _Pull(image, time)
        self.pulls.append(pull)
        self._open.append(pull)
        if len(self._open) > _MAX_OPEN_PULLS:
            del self._open[0]
        return pull

    def _close(self, pull: _Pull) -> None:
        if pull in self._open:
            self._open.remove(pull)

    def _event(self, event: Event) -> None:
        if event.kind == "checking":
            self._checked = event.value
        elif event.kind == "pulling":
            self._pulling(event)
        elif event.kind == "try":
            self._try(event)
        elif event.kind == "fail":
            self._pending.fail(event.value, event.message)
        elif event.kind == "pulled":
            self._pulled(event)
        elif event.kind == "error" and event.value:  # the kubelet: this image's pull failed
            self._failed(event)

    def _pulling(self, event: Event) -> None:
        for pull in reversed(self._open):
            if pull.image == event.value:
                if not pull.tries:  # the same request again (kubelet, CRI-O join): one pull
                    return
                self._close(pull)  # an earlier pull of it that never said Pulled image
                break
        self._start(event.value, event.time)

    def _try(self, event: Event) -> None:
        location = event.value
        pull = self._owner(location)
        if pull is None:
            image = self._checked
            if image is not None and _ref_key(image) != _ref_key(location):
                image = None
            pull = self._start(image, event.time)
            if image is not None:
                self._checked = None
        attempt = Try(location)
        pull.add(attempt)
        self._pending.add(attempt)

    def _owner(self, location: str) -> Optional[_Pull]:
        """The open pull this attempt continues, or None when it starts a new pull.

        Candidates are the open pulls of the same digest/tag. CRI-O's lines carry no request
        id, so concurrent pulls (kubelet pulls in parallel) are told apart by repository:
        the candidate whose image or other attempts share the most trailing path components
        with the location wins; on a tie, one that has not tried this location yet (two
        pulls through one mirror repository), then the most recent. Without `Pulling image`
        a tag alone (`:latest`) says little: such a pull is continued by a tag attempt only
        when some repository component is shared.
        """
        repository = _repository(location)
        by_tag = "@" not in location
        best: Optional[_Pull] = None
        best_rank = (-1, False)
        for pull in reversed(self._open):  # newest first: it keeps ties
            if not pull.matches(location):
                continue
            affinity = pull.affinity(repository, other_than=location)
            if by_tag and not pull.requested and affinity == 0 and location not in pull.locations:
                continue
            rank = (affinity, location not in pull.locations)
            if rank > best_rank:
                best, best_rank = pull, rank
        if best is not None:
            if not best.requested and location in best.locations:
                self._close(best)
                return None  # tried again without `Pulling image`: a new pull
            return best
        for pull in reversed(self._open):
            if pull.requested and not pull.tries:
                return pull  # `Pulling image` logged, reference spelled differently
        return None

    def _failed(self, event: Event) -> None:
        """The kubelet's ``Failed to pull image "X": ERR``: the open pull of X ended so. The
        sources ERR names give its attempts their reasons (CRI-O's info level has none)."""
        key = _image_key(event.value)
        pull = next(
            (p for p in reversed(self._open) if p.image and _image_key(p.image) == key), None
        )
        if pull is None:
            return
        pull.error = event.message
        reasons = {attempt.location: attempt.message for attempt in error_attempts(event.message)}
        for attempt in pull.tries[pull.walk :]:
            message = reasons.get(attempt.location)
            if not attempt.failed and message is not None:
                attempt.fail(message)
        self._close(pull)

    def _pulled(self, event: Event) -> None:
        """``Pulled image: Y`` names the requested repository (with the digest, for a tag):
        it ends the open pull closest to Y's repository, then of Y's digest/tag, then the
        most recent."""
        if not self._open:
            return
        repository = _repository(event.value)
        chosen = self._open[-1]
        best_rank = (-1, False)
        for pull in reversed(self._open):
            rank = (pull.affinity(repository), pull.matches(event.value))
            if rank > best_rank:
                chosen, best_rank = pull, rank
        chosen.pulled = event.value
        self._close(chosen)


def _image_key(ref: str) -> str:
    ref = qualified(ref)
    return ref if ("@" in ref or ":" in ref.rsplit("/", 1)[-1]) else ref + ":latest"


def _journal_attempts(pull: _Pull, last_outcome: Optional[Outcome] = None) -> tuple[Attempt, ...]:
    if last_outcome is None:
        last_outcome = "served" if pull.pulled is not None else "unfinished"
    return freeze(pull.tries[pull.walk :], last_outcome)


def parse_crio_journal(text: str) -> list[JournalPull]:
    """The image pulls in a CRI-O journal excerpt (``journalctl -u crio``), in order.

    A pull starts at ``Pulling image: X`` or, without one, at a ``Trying to access`` that
    continues no open pull (other digest/tag, a location already tried, or a tag attempt
    sharing no repository component with it), and ends at ``Pulled image: Y`` (the open pull
    closest to Y's repository). The last attempt of a pulled image is "served"; attempts with
    an ``Accessing … failed`` line (debug level only) are "failed"; the rest "unfinished".
    ``time`` is the journal's timestamp of the pull's first line (logrus ``time=`` without a
    journal prefix). When the text also holds the kubelet's ``Failed to pull image "X"``
    (its journal, or events), that ends the open pull of X: ``error`` is set, and the
    attempts the error names get their reasons. See the module docstring for the limits
    with concurrent pulls.
    """
    scan = Scan(text)
    return [
        JournalPull(pull.reference, _journal_attempts(pull), pull.pulled, pull.time, pull.error)
        for pull in _Journal(scan.events).pulls
    ]


def crio_pull_log(scan: Scan, *, exit_code: Optional[int], killed: bool) -> PullLog:
    """A CRI-O journal read as the log of one pull: its last pull decides, earlier pulls of
    the same image are the earlier rounds (kubelet's retries). A journal has no final error
    line, so ``final_error`` is None unless the text holds a podman/skopeo one."""
    pulls = _Journal(scan.events).pulls
    attempts: tuple[Attempt, ...] = ()
    earlier: tuple[tuple[Attempt, ...], ...] = ()
    if pulls:
        decisive = pulls[-1]
        outcome: Outcome = "unfinished"
        if decisive.tries and not decisive.tries[-1].failed:  # the last walk's last
            outcome = dangling_outcome(
                exit_code,
                killed,
                scan.shutdown,
                None,
                decisive.tries[-1].location,
                served=decisive.pulled is not None,
            )
        attempts = _journal_attempts(decisive, outcome)
        earlier = tuple(
            _journal_attempts(pull) for pull in pulls[:-1] if pull.reference == decisive.reference
        )
    return PullLog(
        tool="crio",
        attempts=attempts,
        rounds=1 + len(earlier),
        earlier_rounds=earlier,
        config_files=tuple(scan.config_files),
        final_error=scan.final_error,
        final_error_sources=final_error_sources(scan.final_error, attempts),
        shutdown=scan.shutdown,
        served_by=served_by(attempts),
    )
