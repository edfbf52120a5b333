"""``agent check`` for people: the overall line says when --strict failed a warning."""

from __future__ import annotations

from agent.output.check import check_table
from agent.report import CheckReport, Finding, ImageResult

IMAGE = "quay.io/team/app@sha256:" + "ab" * 32


def report(verdict: str) -> CheckReport:
    findings = (
        (Finding("fallback-to-later-mirror", "warn", "mirror #2"),) if verdict == "warn" else ()
    )
    image = ImageResult(image=IMAGE, verdict=verdict, findings=findings)
    return CheckReport(
        node="worker-0", checked_at="2030-01-01T10:00:00Z", verdict=verdict, images=(image,)
    )


def test_strict_says_it_failed_a_warning() -> None:
    strict = check_table(report("warn"), strict=True).splitlines()
    assert strict[-2].startswith("overall: WARN (0 pass, 1 warn")
    assert strict[-1] == "failed by --strict: warnings fail in strict mode (exit 1)"
    assert "--strict" not in check_table(report("warn"))
    assert "--strict" not in check_table(report("pass"), strict=True)
    assert "--strict" not in check_table(report("fail"), strict=True)  # it fails anyway
