"""What a pull log says: the attempts on each source and what became of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional, get_args

from agent.vocabulary import OUTCOMES, Outcome

__all__ = [
    "OUTCOMES",
    "REASONS",
    "TOOLS",
    "Attempt",
    "JournalPull",
    "Outcome",
    "PullLog",
    "Reason",
    "Tool",
]

# Why an attempt failed (see agent.pull.log.classify.classify_failure).
Reason = Literal[
    "connection-refused",
    "dns",
    "tls",
    "timeout",
    "unauthorized",
    "forbidden",
    "manifest-unknown",
    "blocked",
    "http-to-https",
    "rate-limited",
    "not-a-registry",
    "digest-mismatch",  # a manifest whose digest is not the one the reference names
    "other",
    "unknown",
]
Tool = Literal["podman", "skopeo", "crio", "unknown"]

REASONS: tuple[Reason, ...] = get_args(Reason)
TOOLS: tuple[Tool, ...] = get_args(Tool)


@dataclass(frozen=True)
class Attempt:
    """One ``Trying to access "location"``, with what became of it."""

    location: str  # exactly the string inside Trying to access "..."
    outcome: Outcome
    reason: Optional[Reason] = None  # set when outcome == "failed"
    message: Optional[str] = None  # the error text after `failed: `, unescaped, redacted


@dataclass(frozen=True)
class PullLog:
    """What one pull log says about the resolution of one reference."""

    tool: Tool
    attempts: tuple[Attempt, ...]  # the last retry round: the one that decides
    rounds: int  # 1 + number of `Failed, retrying in ...` warnings
    earlier_rounds: tuple[tuple[Attempt, ...], ...]
    config_files: tuple[str, ...]  # `Loading registries configuration "..."`, unique, in order
    final_error: Optional[str]  # podman's `Error: ...` (all lines) or skopeo's fatal msg, redacted
    final_error_sources: tuple[tuple[str, str], ...]  # (ref, err) per source, primary last
    shutdown: bool  # `Received shutdown signal` seen (the tool was terminated)
    served_by: Optional[str]  # location of the attempt with outcome "served", else None
    # The decisive round has no `Trying to access` lines: its attempts were read from the
    # final error, in its order (earlier rounds likewise from their retry warnings).
    attempts_inferred: bool = False
    image: Optional[str] = None  # the image the log says was pulled (Trying to pull, events)
    manifest_read: bool = False  # a line shows a source served the manifest (Copying blob…)
    completed: bool = False  # a line shows the pull finished (Writing manifest, an image ID)
    # The excerpt ends after a retry warning, before the next round shows anything: the
    # attempts are those of the round that warning ended, and the pull went on unseen.
    retry_pending: bool = False
    # A short name's candidates, in order, when the log shows podman resolving one (one
    # `Trying to pull` per candidate ending under one `N errors occurred while pulling`);
    # ``image`` is then the short name.
    candidates: tuple[str, ...] = ()
    # The raw lines [first, end) of the text this pull was read from (parse_pulls), so a
    # report can quote each pull's own lines; (0, 0): not known.
    lines: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class JournalPull:
    """One image pull found in a CRI-O journal."""

    image: str  # what was requested (Pulling image / Checking image status), else 1st location
    attempts: tuple[Attempt, ...]  # in order
    pulled: Optional[str]  # the `Pulled image: ...` value when present
    time: Optional[str]  # timestamp text of the first line of this pull
    # the kubelet's `Failed to pull image` error for it, when the text holds the kubelet's
    # journal or events too (CRI-O itself logs no end for a failed pull), redacted
    error: Optional[str] = None
