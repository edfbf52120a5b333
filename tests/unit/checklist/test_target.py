"""The release target (agent/checklist/target.py): a digest, its payload repository, a mirror
reference mapped back to its source."""

from __future__ import annotations

import pytest

from agent.checklist.items.release_resolves_through_mirror import release_check
from agent.checklist.run import checklist_line
from agent.checklist.snapshot import Reports
from agent.checklist.target import matches, parse_target, with_source
from agent.errors import UsageError
from tests.unit.checklist.factories import (
    DIGEST,
    MIRROR,
    PAYLOAD,
    RELEASE,
    TARGET,
    healthy_snapshot,
    release_image,
    rendered,
    report_configmap,
    target,
)


def test_target_needs_a_digest_and_knows_the_payload_repository() -> None:
    found = target()
    assert (found.repository, found.digest, found.payload_repository) == (RELEASE, DIGEST, PAYLOAD)
    for bad in (f"{RELEASE}:4.15.0-x86_64", "ocp-release@" + DIGEST, "quay.io/X@" + DIGEST):
        with pytest.raises(UsageError):
            parse_target(bad)
    custom = parse_target(f"registry.example.com/ocp/release@{DIGEST}")
    assert (custom.payload_repository, custom.payload_from) == (None, "unknown")
    given = parse_target(
        f"registry.example.com/ocp/release@{DIGEST}", "registry.example.com/ocp/art"
    )
    assert given.payload_repository == "registry.example.com/ocp/art"


def test_a_mirror_reference_is_mapped_back_to_its_source() -> None:
    snapshot = healthy_snapshot()
    mapped = with_source(parse_target(f"{MIRROR}@{DIGEST}"), rendered(snapshot).config)
    assert (mapped.source_repository, mapped.payload_repository) == (RELEASE, PAYLOAD)
    # The nodes are asked to check the source: the mirror reference itself would be pulled
    # from the mirror directly, through no mirror rule.
    assert checklist_line(mapped, "T") == f"{TARGET}  # method=manifest requested=T"
    # A report's check of the mirror reference is not the release check; an old checklist
    # line naming it is still recognised as this release's (and replaced).
    mirror_check = report_configmap("worker-0", images=[release_image(image=f"{MIRROR}@{DIGEST}")])
    (report,) = Reports.of([mirror_check]).by_node.values()
    assert release_check(report, mapped) is None
    assert matches(mapped, f"{MIRROR}@{DIGEST}", None)
    assert not matches(mapped, f"{MIRROR}@{DIGEST}", None, as_given=False)


def test_a_release_by_any_digest_the_grammar_accepts_is_a_target() -> None:
    for digest in ("sha384:" + "ab" * 48, "sha512:" + "cd" * 64):
        found = parse_target(f"{RELEASE}@{digest}")
        assert (found.digest, found.reference) == (digest, f"{RELEASE}@{digest}")
    for bad in ("sha512:" + "cd" * 32, "md5:" + "ab" * 16):
        with pytest.raises(UsageError):
            parse_target(f"{RELEASE}@{bad}")
