"""The one JUnit XML writer (pure): ``agent collect -o junit`` (a case per node) and
``agent checklist -o junit`` (a case per item) both describe their cases with it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional
from xml.sax.saxutils import escape, quoteattr

from agent.output.text import terminal_safe


@dataclass(frozen=True)
class Failure:
    message: str
    text: str = ""


@dataclass(frozen=True)
class Case:
    """One test case: failed, skipped, passed with output, or passed silently."""

    classname: str
    name: str
    failure: Optional[Failure] = None
    skipped: Optional[str] = None  # the reason
    output: Optional[str] = None  # system-out

    def xml(self) -> str:
        if self.failure is not None:
            body = (
                f"<failure message={quoteattr(self.failure.message)}>"
                f"{escape(self.failure.text)}</failure>"
            )
        elif self.skipped is not None:
            body = f"<skipped message={quoteattr(self.skipped)}/>"
        elif self.output is not None:
            body = f"<system-out>{escape(self.output)}</system-out>"
        else:
            body = ""
        return (
            f"  <testcase classname={quoteattr(self.classname)} name={quoteattr(self.name)}>"
            f"{body}</testcase>"
        )


def junit_xml(
    name: str,
    cases: Sequence[Case],
    *,
    count_skipped: bool = False,
    timestamp: Optional[str] = None,
) -> str:
    """The document: one ``<testsuite>`` of ``cases``. ``count_skipped`` adds the
    ``skipped`` count (for suites whose cases can be skipped)."""
    failures = sum(1 for case in cases if case.failure is not None)
    header = (
        f'<testsuite name={quoteattr(name)} tests="{len(cases)}" failures="{failures}" errors="0"'
    )
    if count_skipped:
        header += f' skipped="{sum(1 for case in cases if case.skipped is not None)}"'
    if timestamp is not None:
        header += f" timestamp={quoteattr(timestamp)}"
    # XML 1.0 cannot hold control characters at all, even escaped: they are spelt out.
    return terminal_safe(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + "\n".join([header + ">", *(case.xml() for case in cases), "</testsuite>"])
        + "\n"
    )
