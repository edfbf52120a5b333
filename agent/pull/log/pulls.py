"""Every pull a pasted log shows: one :class:`~.model.PullLog` per pull, in order.

What people paste holds one pull or several: podman-compose and scripts pull one image
after another, a journal shows a unit's pulls over hours, the kubelet reports each failed
pull as an event. Each ``Trying to pull X...`` (and podman's ``Pulling image X (policy:
…)``, the bootstrap's ``Pull failed. Retrying X...``, a kubelet ``Failed to pull image
"X"``) starts the pull of an image; the attempts, retry warnings and the final error that
follow belong to it. Lines before the first of them are a pull whose start the excerpt
does not show. podman's ``N errors occurred:`` (one item per short-name candidate) gives
each candidate's pull its own item.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Optional

from agent.pull.log.events import Event, Scan
from agent.pull.log.inferred import qualified
from agent.pull.log.model import PullLog, Tool
from agent.pull.log.podman import build_pull_log

__all__ = ["image_key", "parse_pulls", "same_image"]

_BUSY = ("try", "fail", "retry", "error", "progress")
# Bounded, and only where a number starts: `\d+` from every digit of a long run of digits
# made the search quadratic.
_ERRORS_OCCURRED = re.compile(r"(?<!\d)\d{1,9} errors? occurred")
_ITEM_SOURCE = re.compile(r"initializing source (?:docker://)?(\S+?): ", re.IGNORECASE)


@dataclass
class _Segment:
    image: Optional[str]
    start: int = 0  # index of its first raw line
    events: list[Event] = field(default_factory=list)
    from_kubelet: bool = False
    announced: bool = False  # only podman's debug `Pulling image X (policy: …)` so far
    busy: bool = False  # an event of the pull itself was seen (not only its announcement)
    error: Optional[str] = None  # the last final error
    alias: Optional[str] = None  # podman's `Resolved "X" as an alias` just before it

    def add(self, event: Event) -> None:
        self.events.append(event)
        if event.kind in _BUSY:
            self.busy = True
        if event.kind == "error":
            self.error = event.message
            self.from_kubelet = self.from_kubelet or bool(event.value)


def _segments(events: Sequence[Event]) -> list[_Segment]:
    segments = [_Segment(None)]
    alias: Optional[str] = None
    for event in events:
        current = segments[-1]
        if event.kind == "run":  # another run of the tool: a new pull once this one is busy
            if current.busy:
                segments.append(_Segment(None, event.line))
            continue
        if event.kind == "alias":
            alias = event.value
            continue
        if event.kind == "image":
            if current.busy or (current.image is not None and not current.announced):
                segments.append(
                    _Segment(event.value, event.line, announced=event.message == "policy")
                )
                segments[-1].alias, alias = alias, None
            else:  # `Pulling image X (policy: …)` then `Trying to pull X'...`: one pull
                current.image = event.value
                current.alias, alias = current.alias or alias, None
                current.announced = event.message == "policy"
            continue
        current.add(event)
    if len(segments) > 1 and not segments[0].events and segments[0].image is None:
        del segments[0]
    return segments


def image_key(ref: str) -> str:
    """What identifies an image however a log or c/image writes it: fully qualified, with
    ``:latest`` when it has neither tag nor digest."""
    ref = qualified(ref)
    last = ref.rsplit("/", 1)[-1]
    return ref if ("@" in ref or ":" in last) else ref + ":latest"


def same_image(one: str, other: str) -> bool:
    """Do two references (as a log or c/image displays them) name the same image?"""
    return image_key(one) == image_key(other)


def _items(error: str) -> list[str]:
    """The ``* …`` items of podman's ``N errors occurred:`` error, else []."""
    if not _ERRORS_OCCURRED.search(error):
        return []
    items: list[str] = []
    for line in error.split("\n")[1:]:
        if line.startswith("* "):
            items.append(line[2:])
        elif items:
            items[-1] += "\n" + line
    return items


def _items_by_image(errors: Sequence[str]) -> dict[str, str]:
    """The item of each image in ``N errors occurred`` lists (the latest list wins)."""
    found: dict[str, str] = {}
    for error in errors:
        for item in _items(error):
            match = _ITEM_SOURCE.search(item)
            if match is not None:
                found[image_key(match.group(1))] = item
    return found


def _own_error(segment: _Segment, items: dict[str, str]) -> Optional[str]:
    """The segment's final error: its own, narrowed to its item of an ``N errors
    occurred`` list, or its item of a later such list (short-name candidates)."""
    if segment.image is None:
        return segment.error
    key = image_key(segment.image)
    if segment.error is not None:
        own = _items_by_image([segment.error]).get(key)
        return own if own is not None else segment.error
    return items.get(key)


def parse_pulls(text: str, *, exit_code: Optional[int] = None) -> tuple[PullLog, ...]:
    """The pulls ``text`` shows, in order (see the module docstring).

    ``exit_code`` (None: unknown) is the status of the last pull; the others' is unknown.
    A line that shows the manifest was read (``Copying blob``, blob downloads, skopeo's
    JSON) makes the last attempt of a pull "served" (``PullLog.manifest_read``); without
    such a line, a final error or an exit status, the last attempt stays "unfinished".
    """
    scan = Scan(text)
    segments = _segments(scan.events)
    ends = [segment.start for segment in segments[1:]] + [text.count("\n") + 1]
    items = _items_by_image([s.error for s in segments if s.error and "occurred" in s.error])
    pulls = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        tool: Tool = "crio" if segment.from_kubelet else scan.tool
        log = build_pull_log(
            tool,
            segment.events,
            exit_code=exit_code if last else None,
            killed=False,
            shutdown=scan.shutdown and last,
            final_error=_own_error(segment, items),
            config_files=tuple(scan.config_files),
            image=segment.image,
            progress_serves=True,
        )
        pulls.append(replace(log, lines=(segment.start if index else 0, ends[index])))
    raw_errors = [segment.error for segment in segments]
    aliases = [segment.alias for segment in segments]
    return tuple(
        pull for pull in _short_names(pulls, raw_errors, aliases) if _shows_something(pull)
    )


def _short_name(candidates: Sequence[str]) -> Optional[str]:
    """What the user typed, when every candidate is it under another search registry."""
    rests = set()
    for candidate in candidates:
        _, slash, rest = image_key(candidate).partition("/")
        if not slash:
            return None
        rests.add(rest.removeprefix("library/") if candidate.startswith("docker.io/") else rest)
    return rests.pop() if len(rests) == 1 else None


def _short_names(
    pulls: Sequence[PullLog],
    raw_errors: Sequence[Optional[str]],
    aliases: Sequence[Optional[str]],
) -> list[PullLog]:
    """Consecutive pulls that end under one ``N errors occurred while pulling`` naming
    each of them, in order, are the candidates of one short name: one pull of it (named
    as podman's ``Resolved "X" as an alias`` before them says, else as the candidates
    show it)."""
    grouped: list[PullLog] = []
    first_of: list[int] = []  # index in pulls of each grouped pull's first segment
    for index, pull in enumerate(pulls):
        grouped.append(pull)
        first_of.append(index)
        error = raw_errors[index] or ""
        items = _items(error) if "while pulling" in error else []
        count = len(items)
        if count < 2 or len(grouped) < count:
            continue
        run = grouped[-count:]
        named = [_ITEM_SOURCE.search(item) for item in items]
        if any(p.image is None for p in run) or any(m is None for m in named):
            continue
        if [image_key(p.image or "") for p in run] != [
            image_key(m.group(1)) for m in named if m is not None
        ]:
            continue
        if any(raw_errors[first_of[-count + i]] is not None for i in range(count - 1)):
            continue
        candidates = tuple(p.image or "" for p in run)
        alias = aliases[first_of[-count]]
        del grouped[-count:]
        del first_of[-count + 1 :]
        grouped.append(
            replace(
                pull,
                image=alias or _short_name(candidates) or candidates[0],
                final_error=error,
                candidates=candidates,
                attempts=tuple(attempt for p in run for attempt in p.attempts),
                attempts_inferred=any(p.attempts_inferred for p in run),
                final_error_sources=tuple(s for p in run for s in p.final_error_sources),
                lines=(run[0].lines[0], pull.lines[1]),
            )
        )
    return grouped


def _shows_something(pull: PullLog) -> bool:
    return bool(pull.image or pull.attempts or pull.final_error or pull.earlier_rounds)
