"""The plan's table, markdown and JSON."""

from __future__ import annotations

import json
from dataclasses import replace

from agent.checklist.mirror_sets import IDMS, NEVER_CONTACT_SOURCE
from agent.output.plan import plan_json, plan_markdown, plan_table, verdict_lines
from agent.output.text import short_digest
from agent.plan.model import ProbeResult
from agent.schema import PLAN_SCHEMA_VERSION
from tests.unit.plan.helpers import (
    BY_DIGEST,
    BY_TAG,
    M1,
    M2,
    NEW,
    SOURCE,
    mirror_set,
    plan_of,
    state,
)


def breaking_plan():  # type: ignore[no-untyped-def]
    return plan_of(
        NEW,
        state(mirror_set(IDMS, "team", (SOURCE, [M1]))),
        [mirror_set(IDMS, "team", (SOURCE, [M2, M1]), policy=NEVER_CONTACT_SOURCE)],
    )


def test_the_table_shows_objects_rules_images_and_the_verdict() -> None:
    text = plan_table(breaking_plan())
    assert "ImageDigestMirrorSet/team  configured  file.yaml (document 1)" in text
    assert f"  {SOURCE}\n    before: {M1} (digest-only)\n" in text
    assert f"    after:  {M2} (digest-only), {M1} (digest-only); source blocked\n" in text
    assert "images: 2 planned, 2 change route, 1 no longer resolve" in text
    assert (
        f"  {BY_TAG}\n    before: {SOURCE}/app:1.0\n    after:  {SOURCE}/app:1.0 (blocked)\n"
        in text
    )
    assert "    NO LONGER RESOLVES: the pull would fail: every source is blocked" in text
    assert text.rstrip().endswith("BREAKS PULLS: 1 of 2 images would no longer resolve")


def test_probe_lines_count_images_per_new_mirror_host() -> None:
    plan = replace(
        breaking_plan(),
        probes=(
            ProbeResult("a", "new.example/x@sha256:1", "missing", "manifest unknown"),
            ProbeResult("b", "new.example/y@sha256:2", "present"),
            ProbeResult("c", "new.example/z@sha256:3", "error", "connection refused"),
        ),
    )
    assert verdict_lines(plan)[-1] == (
        "PROBE: the new mirror new.example lacks (or could not confirm) 2 of 3 images"
    )
    assert "  MISSING  new.example/x@sha256:1: manifest unknown" in plan_table(plan)


def test_an_ok_plan() -> None:
    plan = plan_of(NEW, state(), [mirror_set(IDMS, "team", (SOURCE, [M1]))])
    assert verdict_lines(plan) == ["OK: no change breaks a pull (1 of 2 images change route)"]
    assert "**OK: no change breaks a pull" in plan_markdown(plan)


def test_json() -> None:
    document = json.loads(json.dumps(plan_json(breaking_plan())))
    assert document["schemaVersion"] == PLAN_SCHEMA_VERSION
    assert (document["valid"], document["breaking"], document["mode"]) == (True, 1, "cluster")
    digest = next(i for i in document["images"] if i["image"] == BY_DIGEST)
    assert [c["kind"] for c in digest["changes"]] == ["mirror-added", "source-blocked"]
    assert digest["after"]["sources"][-1] == {
        "location": f"{SOURCE}/app@{BY_DIGEST.split('@')[1]}",
        "kind": "source",
        "blocked": True,
        "insecure": False,
    }
    assert set(document) == {
        "schemaVersion", "ocpVersion", "ocpVersionFrom", "mode", "valid", "breaking", "objects",
        "problems", "rules", "unexercisedEntries", "images", "probes", "notProbed", "notes",
    }  # fmt: skip


def test_an_entry_no_report_image_exercises_says_how_to_give_one() -> None:
    from agent.checklist.version import Version
    from agent.plan import PlanInput, make_plan
    from agent.plan.apply import FileObject

    new_entry = mirror_set(IDMS, "other", ("registry.example/ns", [M2]))
    plan = make_plan(
        PlanInput(
            state(),
            [FileObject(new_entry, "f.yaml (document 1)")],
            Version(NEW, "4.14", "--ocp-version"),
            [(BY_DIGEST, "reports")],
        )
    )
    assert plan.unexercised == ("registry.example/ns",)
    hint = "give one with --image registry.example/ns/…@sha256:…"
    assert hint in plan_table(plan)
    assert hint in plan_markdown(plan)
    (note,) = [n for n in plan.notes if n.startswith("--from-reports")]
    assert "reports do not list every image a node holds" in note
    assert "registry.example/ns" in note and "--image" in note


def _many_images_plan(count: int):  # type: ignore[no-untyped-def]
    images = [f"{SOURCE}/app{n}@sha256:{n:064x}" for n in range(count)]
    return plan_of(NEW, state(), [mirror_set(IDMS, "team", (SOURCE, [M1]))], images=images)


def test_images_that_change_alike_are_listed_once_under_their_change() -> None:
    plan = _many_images_plan(42)
    text = plan_table(plan)
    assert f"  42 images, entry - → {SOURCE}, each changing the same way:\n" in text
    assert f"    + mirror {M1}: added at position 1\n" in text
    assert text.count("added at position 1") == 1
    for image in plan.images:  # names only, each once
        assert text.count(short_digest(image.image)) == 1
    assert "before:" not in text.split("images:")[1]
    assert len(text.splitlines()) < 42 + 25
    markdown = plan_markdown(plan)
    assert "| 42 images:<br>" in markdown
    assert markdown.count("added at position 1") == 1


def test_breaking_and_failed_probe_images_keep_their_detail() -> None:
    plan = _many_images_plan(3)
    first = plan.images[0]
    plan = replace(
        plan, probes=(ProbeResult(first.image, f"{M1}/app0@x", "missing", "manifest unknown"),)
    )
    text = plan_table(plan)
    assert f"  {short_digest(first.image)}\n    before: " in text
    assert "  2 images, entry" in text


def test_markdown_cells_escape_the_pipe() -> None:
    plan = replace(
        breaking_plan(), probes=(ProbeResult("a", "new.example/x@sha256:1", "error", "a | b"),)
    )
    assert "| error | `new.example/x@sha256:1` | a \\| b |" in plan_markdown(plan)
