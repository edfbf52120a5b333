"""The plan, pure: objects in, per-image before/after routes and the kinds of change out.

Every kind of change for ICSP, IDMS and ITMS, on OCP 4.12 (ICSP only, rendered as
``mirror-by-digest-only``; IDMS/ITMS are not served) and 4.14 (``pull-from-mirror``,
``NeverContactSource``), plus 4.10 against 4.11 (nested scopes inherit mirrors from 4.11).
"""

from __future__ import annotations

import pytest

from agent.checklist.mirror_sets import ICSP, IDMS, ITMS, NEVER_CONTACT_SOURCE
from agent.errors import UsageError
from tests.unit.plan.helpers import (
    BY_DIGEST,
    BY_TAG,
    DIGEST,
    LISTS,
    M1,
    M2,
    NEW,
    OLD,
    SOURCE,
    image,
    image_config,
    kinds,
    locations,
    mirror_set,
    plan_of,
    state,
)

DIGEST_KINDS = [(ICSP, OLD), (ICSP, NEW), (IDMS, NEW)]
D_SRC = f"{SOURCE}/app@{DIGEST}"
D_M1 = f"{M1}/app@{DIGEST}"
D_M2 = f"{M2}/app@{DIGEST}"
T_SRC = f"{SOURCE}/app:1.0"
T_M1 = f"{M1}/app:1.0"
T_M2 = f"{M2}/app:1.0"


def _skip_reason(version: tuple[int, int]) -> str:
    return (
        "mirror-by-digest-only = true" if version < (4, 13) else 'pull-from-mirror = "digest-only"'
    )


# --- mirror added / removed / moved ------------------------------------------------------


@pytest.mark.parametrize(("kind", "version"), DIGEST_KINDS)
def test_a_new_first_mirror_is_added_for_digests_only(kind: str, version: tuple[int, int]) -> None:
    plan = plan_of(
        version,
        state(mirror_set(kind, "team", (SOURCE, [M1]))),
        [mirror_set(kind, "team", (SOURCE, [M2, M1]))],
    )
    assert locations(plan, BY_DIGEST, "before") == [D_M1, D_SRC]
    assert locations(plan, BY_DIGEST, "after") == [D_M2, D_M1, D_SRC]
    changes = image(plan, BY_DIGEST).changes
    assert [(c.kind, c.location, c.detail) for c in changes] == [
        ("mirror-added", D_M2, "added at position 1")
    ]
    # a tag is not mirrored by digest rules, before or after; the reason is the version's
    assert kinds(plan, BY_TAG) == []
    tag = image(plan, BY_TAG)
    assert locations(plan, BY_TAG, "after") == [T_SRC]
    assert [loc for loc, _ in tag.after.skipped] == [T_M2, T_M1]
    assert all(_skip_reason(version) in why for _, why in tag.after.skipped)
    assert [a.action for a in plan.actions] == ["configured"]
    assert not plan.invalid and not plan.breaking
    assert [(r.prefix, r.images) for r in plan.rules] == [(SOURCE, (BY_DIGEST, BY_TAG))]


def test_itms_adds_a_mirror_for_tags_only() -> None:
    plan = plan_of(
        NEW,
        state(mirror_set(ITMS, "tags", (SOURCE, [M1]))),
        [mirror_set(ITMS, "tags", (SOURCE, [M2, M1]))],
    )
    assert locations(plan, BY_TAG, "after") == [T_M2, T_M1, T_SRC]
    assert kinds(plan, BY_TAG) == ["mirror-added"]
    assert kinds(plan, BY_DIGEST) == []
    assert image(plan, BY_DIGEST).after.skipped[0][1].startswith('pull-from-mirror = "tag-only"')


@pytest.mark.parametrize("kind", [IDMS, ITMS])
def test_before_413_idms_and_itms_change_nothing_and_are_refused(kind: str) -> None:
    plan = plan_of(OLD, state(), [mirror_set(kind, "new", (SOURCE, [M1]))])
    assert all(i.changes == () for i in plan.images)
    assert plan.rules == ()
    assert [(p.object, p.field, p.rule, p.severity) for p in plan.problems] == [
        (f"{kind}/new", "kind", "kind-not-served", "error")
    ]
    assert plan.invalid


@pytest.mark.parametrize(("kind", "version"), [*DIGEST_KINDS, (ITMS, NEW)])
def test_a_mirror_removed(kind: str, version: tuple[int, int]) -> None:
    plan = plan_of(
        version,
        state(mirror_set(kind, "team", (SOURCE, [M1, M2]))),
        [mirror_set(kind, "team", (SOURCE, [M1]))],
    )
    ref, removed = (BY_TAG, T_M2) if kind == ITMS else (BY_DIGEST, D_M2)
    assert [(c.kind, c.location) for c in image(plan, ref).changes] == [("mirror-removed", removed)]


@pytest.mark.parametrize(("kind", "version"), [*DIGEST_KINDS, (ITMS, NEW)])
def test_mirrors_moved(kind: str, version: tuple[int, int]) -> None:
    plan = plan_of(
        version,
        state(mirror_set(kind, "team", (SOURCE, [M1, M2]))),
        [mirror_set(kind, "team", (SOURCE, [M2, M1]))],
    )
    ref = BY_TAG if kind == ITMS else BY_DIGEST
    changes = image(plan, ref).changes
    assert {c.kind for c in changes} == {"mirror-moved"}
    assert [c.detail for c in changes] == ["position 2 → 1", "position 1 → 2"]


def test_a_second_object_for_the_same_source_merges_in_topological_order() -> None:
    plan = plan_of(
        NEW,
        state(mirror_set(IDMS, "first", (SOURCE, [M1]))),
        [mirror_set(IDMS, "second", (SOURCE, [M2, M1]))],
    )
    assert locations(plan, BY_DIGEST, "after") == [D_M2, D_M1, D_SRC]
    assert [a.action for a in plan.actions] == ["created"]
    assert [(p.rule, p.severity) for p in plan.problems] == [("duplicate-source", "warning")]


# --- tags newly skipped by digest-only rules ---------------------------------------------


@pytest.mark.parametrize("kind", [ICSP, IDMS])
def test_replacing_itms_by_digest_rules_skips_tags(kind: str) -> None:
    plan = plan_of(
        NEW,
        state(mirror_set(ITMS, "tags", (SOURCE, [M1]))),
        [mirror_set(kind, "digests", (SOURCE, [M1]))],
        deletes=["itms/tags"],
    )
    assert locations(plan, BY_TAG, "before") == [T_M1, T_SRC]
    assert locations(plan, BY_TAG, "after") == [T_SRC]
    (change,) = image(plan, BY_TAG).changes
    assert change.kind == "newly-skipped" and change.location == T_M1
    assert 'pull-from-mirror = "digest-only"' in change.detail
    assert kinds(plan, BY_DIGEST) == ["no-longer-skipped"]
    assert [(a.label, a.action) for a in plan.actions] == [
        (f"{kind}/digests", "created"),
        ("ImageTagMirrorSet/tags", "deleted"),
    ]


def test_on_412_tags_never_use_icsp_mirrors() -> None:
    plan = plan_of(OLD, state(), [mirror_set(ICSP, "team", (SOURCE, [M1]))])
    assert kinds(plan, BY_TAG) == []
    assert image(plan, BY_TAG).after.skipped == (
        (T_M1, _skip_reason(OLD) + " and the reference has no digest"),
    )
    assert kinds(plan, BY_DIGEST) == ["entry-changed", "mirror-added"]


# --- sources blocked and reachable; images that no longer resolve -------------------------


def test_never_contact_source_blocks_the_source_and_breaks_tags() -> None:
    plan = plan_of(
        NEW,
        state(mirror_set(IDMS, "team", (SOURCE, [M1]))),
        [mirror_set(IDMS, "team", (SOURCE, [M1]), policy=NEVER_CONTACT_SOURCE)],
    )
    assert kinds(plan, BY_DIGEST) == ["source-blocked"]
    assert kinds(plan, BY_TAG) == ["no-longer-resolves", "source-blocked"]
    broken = image(plan, BY_TAG)
    assert "every source is blocked" in broken.changes[0].detail
    assert broken.before.resolves and not broken.after.resolves
    assert plan.breaking == (broken,)
    assert not plan.invalid


def test_itms_never_contact_source_breaks_digests() -> None:
    plan = plan_of(
        NEW,
        state(mirror_set(ITMS, "tags", (SOURCE, [M1]))),
        [mirror_set(ITMS, "tags", (SOURCE, [M1]), policy=NEVER_CONTACT_SOURCE)],
    )
    assert kinds(plan, BY_TAG) == ["source-blocked"]
    assert kinds(plan, BY_DIGEST) == ["no-longer-resolves", "source-blocked"]


@pytest.mark.parametrize("version", [OLD, NEW])
def test_icsp_cannot_block_but_image_config_can(version: tuple[int, int]) -> None:
    current = state(mirror_set(ICSP, "team", (SOURCE, [M1])))
    blocked = plan_of(version, current, [image_config(blockedRegistries=[SOURCE])])
    # registries.conf still sends digests to the mirror, but policy.json rejects the image
    # asked for (IDMS NeverContactSource is the way to block a source and keep its mirrors)
    assert kinds(blocked, BY_DIGEST) == ["rejected-by-policy", "source-blocked"]
    assert locations(blocked, BY_DIGEST, "after")[0].startswith(M1)
    assert kinds(blocked, BY_TAG) == ["rejected-by-policy", "source-blocked"]
    assert [(a.label, a.action) for a in blocked.actions] == [("Image/cluster", "created")]


@pytest.mark.parametrize("kind", [IDMS, ITMS])
def test_dropping_never_contact_source_makes_the_source_reachable(kind: str) -> None:
    plan = plan_of(
        NEW,
        state(mirror_set(kind, "team", (SOURCE, [M1]), policy=NEVER_CONTACT_SOURCE)),
        [mirror_set(kind, "team", (SOURCE, [M1]))],
    )
    fixed, kept = (BY_DIGEST, BY_TAG) if kind == IDMS else (BY_TAG, BY_DIGEST)
    assert kinds(plan, fixed) == ["source-reachable"]
    assert kinds(plan, kept) == ["now-resolves", "source-reachable"]
    assert not plan.breaking


@pytest.mark.parametrize(("kind", "version"), DIGEST_KINDS)
def test_a_mirror_that_cannot_rewrite_the_reference_breaks_the_pull(
    kind: str, version: tuple[int, int]
) -> None:
    plan = plan_of(
        version,
        state(mirror_set(kind, "team", (SOURCE, [M1]))),
        [mirror_set(kind, "team", (SOURCE, ["Mirror.example/Team", M1]))],
    )
    broken = image(plan, BY_DIGEST)
    assert broken.changes[0].kind == "no-longer-resolves"
    assert "not a valid image reference" in (broken.after.problem or "")
    problem = next(p for p in plan.problems if p.rule == "mirror-scope")
    assert (problem.object, problem.field) == (
        f"{kind}/team",
        f"spec.{LISTS[kind]}[0].mirrors[0]",
    )
    assert plan.invalid


def test_a_more_specific_source_changes_the_matching_entry() -> None:
    plan = plan_of(
        NEW,
        state(mirror_set(IDMS, "team", (SOURCE, [M1]))),
        [mirror_set(IDMS, "app", (f"{SOURCE}/app", [f"{M2}/app"]))],
    )
    assert kinds(plan, BY_DIGEST) == ["entry-changed", "mirror-added", "mirror-removed"]
    assert image(plan, BY_DIGEST).changes[0].detail == f"matched entry {SOURCE} → {SOURCE}/app"


def test_a_changed_rule_no_image_matches_is_listed() -> None:
    plan = plan_of(
        NEW,
        state(),
        [mirror_set(IDMS, "other", ("registry.redhat.io/ubi9", ["mirror-one.example:5000/ubi9"]))],
    )
    assert plan.unexercised == ("registry.redhat.io/ubi9",)
    assert all(i.changes == () for i in plan.images)


# --- the same objects, versions whose rendering differs ---------------------------------


@pytest.mark.parametrize("version", [(4, 10), (4, 11)])
def test_nested_insecure_scope_keeps_its_parents_mirrors_from_411(version: tuple[int, int]) -> None:
    """image.config marks one repository insecure: from 4.11 the MCO copies the parent's
    mirrors into that nested entry; before, the entry has none and pulls skip the mirror."""
    plan = plan_of(
        version,
        state(mirror_set(ICSP, "team", (SOURCE, [M1]))),
        [image_config(insecureRegistries=[f"{SOURCE}/app"])],
    )
    if version < (4, 11):
        assert kinds(plan, BY_DIGEST) == ["entry-changed", "mirror-removed"]
        assert locations(plan, BY_DIGEST, "after") == [D_SRC]
    else:
        assert kinds(plan, BY_DIGEST) == []
        assert locations(plan, BY_DIGEST, "after") == [D_M1, D_SRC]
        assert image(plan, BY_DIGEST).after.entry == f"{SOURCE}/app"
    assert [r.prefix for r in plan.rules] == [f"{SOURCE}/app"]


@pytest.mark.parametrize(
    ("given", "message"),
    [("ubi8", "is a short name"), ("quay.io/team/App:1", "image 'quay.io/team/App:1'")],
)
def test_images_must_be_fully_qualified_references(given: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        plan_of(NEW, state(), [], images=[given])


def test_allowed_registries_judge_the_image_asked_for_not_the_mirror() -> None:
    # quay.io is not allowed: policy.json rejects quay.io/team/app whichever mirror serves it
    # (the mirror being allowed changes nothing); allowing quay.io is fine with any mirror.
    rejected = plan_of(
        NEW, state(), [mirror_set(IDMS, "a", (SOURCE, [M1])), image_config(allowedRegistries=[M1])]
    )
    assert kinds(rejected, BY_DIGEST)[0] == "rejected-by-policy"
    assert image(rejected, BY_DIGEST).breaking and not rejected.invalid
    assert "no allowedRegistries scope" in (image(rejected, BY_DIGEST).after.rejected or "")
    accepted = plan_of(
        NEW,
        state(),
        [mirror_set(IDMS, "a", (SOURCE, [M1])), image_config(allowedRegistries=["quay.io"])],
    )
    assert not accepted.breaking and not accepted.problems


def test_blocked_registries_reject_the_image_even_when_a_mirror_holds_it() -> None:
    plan = plan_of(
        NEW,
        state(mirror_set(IDMS, "a", (SOURCE, [M1]))),
        [image_config(blockedRegistries=["quay.io"])],
    )
    assert kinds(plan, BY_DIGEST)[0] == "rejected-by-policy"
    assert "blockedRegistries scope quay.io" in (image(plan, BY_DIGEST).after.rejected or "")
