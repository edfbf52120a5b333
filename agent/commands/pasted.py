"""``agent analyze`` over pasted podman/skopeo output and kubelet events: one result per image.

A pasted log may show several pulls (:func:`agent.pull.log.pulls.parse_pulls`). Pulls of the
same image are one image here: the last one that shows anything decides, the earlier ones
are its earlier rounds (a unit or the kubelet retrying). Each image is judged against the
node's configuration like ``agent check`` does, with the exit status the log implies: a
final error is a failure, a finished pull (``Writing manifest``, an image ID, skopeo's
JSON) a success; anything else is unknown, never a success. CRI-O journals go through
:mod:`agent.commands.journal`'s reading instead.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Optional

from agent.commands.results import error_result, result_from_log
from agent.pull.log.inferred import qualified
from agent.pull.log.model import PullLog
from agent.pull.log.pulls import image_key, parse_pulls, same_image
from agent.registries import LoadedHost
from agent.registries.model import Explanation, Resolution
from agent.registries.resolve import source_of
from agent.report import ImageResult

__all__ = ["pasted_results"]

_LOGICAL = (
    re.compile(r"initializing source (?:docker://)?(\S+?): ", re.IGNORECASE),
    re.compile(r"error parsing image name \"(?:docker://)?([^\"\s]+)\"", re.IGNORECASE),
)


def _name(pull: PullLog, loaded: LoadedHost) -> Optional[str]:
    """The image a pull was for: as the log names it, else the logical reference of its
    error (c/image's ``docker://user/repo`` display is a docker.io reference), else the
    source its first attempt stands for."""
    if pull.image:
        return pull.image
    for pattern in _LOGICAL:
        match = pattern.search(pull.final_error or "")
        if match is not None and "/" in qualified(match.group(1)):
            return qualified(match.group(1))
    attempts = pull.attempts or (pull.earlier_rounds[-1] if pull.earlier_rounds else ())
    if attempts:
        return source_of(loaded.config, attempts[0].location)
    return None


def _shows_little(pull: PullLog) -> bool:
    """A pull line with nothing after it (`Pull failed. Retrying X...` at the excerpt's end)."""
    return not (pull.attempts or pull.final_error or pull.manifest_read or pull.earlier_rounds)


def _merged(pulls: list[PullLog]) -> PullLog:
    """Pulls of one image: the last that shows something decides, the others are its
    earlier rounds."""
    shown = [pull for pull in pulls if not _shows_little(pull)] or pulls[-1:]
    decisive = shown[-1]
    earlier = tuple(
        round_ for pull in shown[:-1] for round_ in (*pull.earlier_rounds, pull.attempts)
    ) + tuple(decisive.earlier_rounds)
    return replace(decisive, earlier_rounds=earlier, rounds=len(earlier) + 1)


def _resolution(explanation: Explanation, log: PullLog) -> Resolution:
    """What to judge a pull against: a short name's candidates together (podman tries
    them in order), else the one resolution (a short name's first candidate may have
    failed to rewrite, and podman goes on to the next: the first that has sources)."""
    if log.candidates and len(explanation.resolutions) > 1:
        return Resolution(
            reference=explanation.normalized or explanation.given,
            entry=None,
            pull_sources=explanation.pull_sources,
            skipped_mirrors=tuple(
                skipped for r in explanation.resolutions for skipped in r.skipped_mirrors
            ),
        )
    return next(
        (r for r in explanation.resolutions if r.problem is None), explanation.resolutions[0]
    )


def _own_lines(lines: list[str], group: list[PullLog]) -> str:
    """The lines of the log that belong to one image's pulls (each result quotes only
    these: a log of many pulls is not copied into every result)."""
    return "\n".join(line for pull in group for line in lines[pull.lines[0] : pull.lines[1]])


def _exit_code(log: PullLog, given: Optional[int]) -> Optional[int]:
    if given is not None:
        return given
    if log.final_error is not None:
        return None if log.tool == "crio" else 1 if log.tool == "skopeo" else 125
    return 0 if log.completed else None


def pasted_results(
    loaded: LoadedHost, text: str, *, image: Optional[str], exit_code: Optional[int]
) -> tuple[ImageResult, ...]:
    """One judged result per image the log shows pulled, in the order they first appear.

    ``image`` (``--image``) names a pull the log does not name, and picks its pulls out of
    several images'. ``exit_code`` is the last pull's status. Empty: the log shows no pull.
    """
    pulls = parse_pulls(text, exit_code=exit_code)
    named: dict[str, str] = {}  # image key: the name first seen for it
    grouped: dict[str, list[PullLog]] = {}
    for pull in pulls:
        name = _name(pull, loaded) or image
        if name is None:
            continue
        key = image_key(name)
        named.setdefault(key, name)
        grouped.setdefault(key, []).append(pull)
    groups = {named[key]: group for key, group in grouped.items()}
    if image is not None:
        wanted = {key: group for key, group in groups.items() if same_image(key, image)}
        if not wanted and len(groups) == 1:
            wanted = {image: next(iter(groups.values()))}
        if not wanted and groups:
            seen = ", ".join(groups)
            return (error_result(image, "no-pull-in-log", f"the log shows pulls of {seen}"),)
        groups = wanted
    last = pulls[-1] if pulls else None
    lines = text.split("\n")
    results = []
    for name, group in groups.items():
        log = _merged(group)
        code = _exit_code(log, exit_code if group[-1] is last else None)
        explanation = loaded.explain(name)
        if explanation.problem:
            problem = explanation.problem
            results.append(error_result(name, problem.kind, problem.message))
            continue
        result = result_from_log(
            name,
            _resolution(explanation, log),
            log,
            exit_code=code,
            timed_out=False,
            duration=None,
            raw=_own_lines(lines, group),
        )
        results.append(replace(result, attempts_inferred=log.attempts_inferred))
    return tuple(results)
