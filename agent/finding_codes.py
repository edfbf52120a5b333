"""Every finding code the agent emits (docs/findings.md's table lists them; a test keeps the
two and the code's ``Finding("...")`` literals in step). The exporter labels its metrics only
with these: a report is data from a node, and a code it invents must not become a series."""

from __future__ import annotations

FINDING_CODES: frozenset[str] = frozenset(
    {
        "served-by-mirror", "fallback-to-later-mirror", "served-by-source", "mirrors-skipped",
        "no-mirror-configured", "digest-mismatch", "not-served", "blocked-source-needed",
        "order-mismatch", "unexpected-source", "pull-failed-after-resolution",
        "registries-conf-invalid", "rewrite-invalid-reference", "probe-mirror-missing",
        "probe-mirror-failed", "probe-mirror-differs", "probe-unavailable", "timeout",
        "check-failed", "source-not-shown", "tool-missing", "node-disk-full",
        "too-many-images", "not-covered", "report-truncated", "environment",
        "invalid-reference", "short-name", "interrupted", "checks-file-invalid",
        "no-pull-in-log", "outcome-unknown", "unresolvable", "auto-unavailable",
        "nothing-to-check", "podman-version-unknown", "invalid-report", "recheck-invalid",
        "config-not-the-logs",
    }
)  # fmt: skip
