"""The closed sets of words that flow through reports, summaries and checklists (pure).

Each set is one ``Literal``; the tuple beside it is derived from it, so the two cannot
disagree. The JSON documents carry these words as they are (docs/json-reference.md).
"""

from __future__ import annotations

from typing import Any, Literal, get_args

# Untyped JSON as it is read or written (a decoded document, an API object).
Json = dict[str, Any]

# An image's, a report's or a checklist's verdict, least to most severe.
Verdict = Literal["pass", "warn", "fail", "error"]
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)

# A finding's severity; it maps onto the verdict (info → pass).
Severity = Literal["info", "warn", "fail", "error"]
SEVERITIES: tuple[Severity, ...] = get_args(Severity)

# How an image is checked: a real pull, or only its manifest (skopeo inspect --raw).
Method = Literal["pull", "manifest"]
METHODS: tuple[Method, ...] = get_args(Method)
# A report's method: one of those, or "log" when ``agent analyze`` judged a captured log.
ReportMethod = Literal["pull", "manifest", "log"]

# What a pull source is in registries.conf terms.
SourceKind = Literal["mirror", "source"]
SOURCE_KINDS: tuple[SourceKind, ...] = get_args(SourceKind)

# failed: an `Accessing "R" failed` line; served: the source the image came from;
# hung: the pull stopped there (killed, or a shutdown signal); unfinished: nothing more known.
Outcome = Literal["failed", "served", "hung", "unfinished"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
