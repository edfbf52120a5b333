"""The one JUnit XML writer collect and the checklist share (agent/output/junit.py)."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from agent.output.junit import Case, Failure, junit_xml


def test_each_kind_of_case_and_the_counts() -> None:
    cases = [
        Case("suite.a", 'quoted "name" & <more>', failure=Failure("why <1>", "detail & more")),
        Case("suite.a", "skipped", skipped="gone"),
        Case("suite.b", "with output", output="line 1\nline <2>"),
        Case("suite.b", "silent"),
    ]
    text = junit_xml("the suite", cases, count_skipped=True, timestamp="2030-01-01T10:00:00Z")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="the suite"')
    suite = ElementTree.fromstring(text.split("\n", 1)[1])
    assert suite.attrib == {
        "name": "the suite",
        "tests": "4",
        "failures": "1",
        "errors": "0",
        "skipped": "1",
        "timestamp": "2030-01-01T10:00:00Z",
    }
    failed, skipped, printed, silent = suite
    assert failed.attrib == {"classname": "suite.a", "name": 'quoted "name" & <more>'}
    failure = failed.find("failure")
    assert failure is not None
    assert (failure.get("message"), failure.text) == ("why <1>", "detail & more")
    gone = skipped.find("skipped")
    assert gone is not None and gone.get("message") == "gone"
    assert printed.findtext("system-out") == "line 1\nline <2>"
    assert list(silent) == [] and silent.text is None


def test_optional_attributes_are_left_out() -> None:
    suite = ElementTree.fromstring(junit_xml("s", [Case("c", "n")]).split("\n", 1)[1])
    assert suite.attrib == {"name": "s", "tests": "1", "failures": "0", "errors": "0"}
