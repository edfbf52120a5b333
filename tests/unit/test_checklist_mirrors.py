"""The Machine Config Operator's rendering of ICSP/IDMS/ITMS, and the semantic comparison
with a node's effective registries.conf (agent/checklist/mirrors.py, compare.py)."""

from __future__ import annotations

from typing import Any, Optional

import pytest

from agent import registries
from agent.checklist.compare import compare, coverage
from agent.checklist.mirror_sets import (
    DIGEST_ONLY,
    merge_sets,
    mirror_sets,
    scope_nested,
    topological_order,
)
from agent.checklist.mirrors import Rendering, render_registries
from agent.checklist.version import LATEST, parse_ocp_version
from agent.registries.model import CURRENT
from agent.registries.resolve import source_of
from tests.unit.checklist.factories import icsp, idms, itms

RELEASE = "quay.io/openshift-release-dev/ocp-release"
PAYLOAD = "quay.io/openshift-release-dev/ocp-v4.0-art-dev"
MIRROR = "mirror.corp.example:8443/ocp4/openshift4"
BACKUP = "backup.corp.example/ocp4/openshift4"
DIGEST = "sha256:" + "a4" * 32


def image_config(insecure: tuple[str, ...] = (), blocked: tuple[str, ...] = ()) -> dict[str, Any]:
    sources: dict[str, Any] = {}
    if insecure:
        sources["insecureRegistries"] = list(insecure)
    if blocked:
        sources["blockedRegistries"] = list(blocked)
    return {"spec": {"registrySources": sources}}


def entries(rendering: Rendering) -> dict[str, tuple[Any, ...]]:
    """prefix -> (blocked, insecure, by-digest-only, [(mirror, pull-from-mirror, insecure)])"""
    return {
        e.prefix: (
            e.blocked,
            e.insecure,
            e.mirror_by_digest_only,
            [(m.location, m.pull_from_mirror, m.insecure) for m in e.mirrors],
        )
        for e in rendering.entries
    }


def mco_toml(rendering: Rendering) -> str:
    """registries.conf as the MCO writes it: ``prefix = ""`` + ``location`` = the source."""
    lines = [
        "unqualified-search-registries = ['registry.access.redhat.com', 'docker.io']",
        'short-name-mode = ""',
    ]
    for entry in rendering.entries:
        lines += ["", "[[registry]]"]
        if entry.prefix.startswith("*."):
            lines.append(f'  prefix = "{entry.prefix}"\n  location = ""')
        else:
            lines.append(f'  prefix = ""\n  location = "{entry.location}"')
        lines.append(f"  insecure = {str(entry.insecure).lower()}")
        lines.append(f"  blocked = {str(entry.blocked).lower()}")
        lines.append(f"  mirror-by-digest-only = {str(entry.mirror_by_digest_only).lower()}")
        for mirror in entry.mirrors:
            lines += ["", "  [[registry.mirror]]", f'    location = "{mirror.location}"']
            lines.append(f"    insecure = {str(mirror.insecure).lower()}")
            if mirror.pull_from_mirror:
                lines.append(f'    pull-from-mirror = "{mirror.pull_from_mirror}"')
    return "\n".join(lines) + "\n"


def effective_of(*files: tuple[str, str]) -> list[dict[str, Any]]:
    """A node's effective entries, read and merged by the agent's own registries.conf engine."""
    decoded = [
        registries.decode_file(text, path, drop_in=index > 0, compat=CURRENT)
        for index, (path, text) in enumerate(files)
    ]
    entries_: list[dict[str, Any]] = registries.merge(decoded).canonical()["registries"]
    return entries_


# --- versions, scopes, merging ----------------------------------------------------------------


def test_versions() -> None:
    assert parse_ocp_version("4.14.8") == (4, 14)
    assert parse_ocp_version("4.16.0-rc.1") == (4, 16)
    assert parse_ocp_version("v4.12") == (4, 12)
    with pytest.raises(ValueError):
        parse_ocp_version("four")
    assert LATEST > (4, 30)


@pytest.mark.parametrize(
    ("sub", "sup", "nested"),
    [
        ("quay.io/a/b", "quay.io/a", True),
        ("quay.io/a", "quay.io/a", True),
        ("quay.io/ab", "quay.io/a", False),
        ("quay.io:5000/a", "quay.io", False),
        ("a.example.com/x", "*.example.com", True),
        ("a.example.com:5000/x", "*.example.com", True),
        ("*.b.example.com", "*.example.com", True),
        ("quay.io/b.example.com", "*.example.com", False),
    ],
)
def test_scope_nesting(sub: str, sup: str, nested: bool) -> None:
    assert scope_nested(sub, sup) is nested


def test_topological_order_merges_per_object_orders() -> None:
    # (B, C) and (A, B) become (A, B, C): runtime-utils' own example.
    assert topological_order([["b", "c"], ["a", "b"]], "src") == ["a", "b", "c"]
    # Unrelated mirrors: ties broken alphabetically, whatever the object order.
    assert topological_order([["m2"], ["m1"]], "src") == ["m1", "m2"]
    assert topological_order([["m1"], ["m2"]], "src") == ["m1", "m2"]
    # A cycle is broken by the alphabetically first node...
    assert topological_order([["y", "x"], ["x", "y"]], "zz.io/src") == ["x", "y"]
    # ... which may be the source itself: then it stays in the list, as upstream keeps it.
    assert topological_order([["y", "x"], ["x", "y"]], "src") == ["src", "x", "y"]
    # A set may place the source among its mirrors: then it is not dropped.
    assert topological_order([["m1", "src", "m2"]], "src") == ["m1", "src", "m2"]


def test_sets_are_merged_by_source_sorted_and_source_only_sets_ignored() -> None:
    sets = mirror_sets(
        "ImageDigestMirrorSet",
        [
            idms("b", ("z.io/app", ["m.io/z"]), ("a.io/app", ["m2.io/a"])),
            idms("a", ("a.io/app", ["m1.io/a", "m2.io/a"]), ("q.io/x", ["q.io/x"])),
        ],
    )
    merged = merge_sets(sets)
    assert [(m.source, m.mirrors) for m in merged] == [
        ("a.io/app", ("m1.io/a", "m2.io/a")),
        ("z.io/app", ("m.io/z",)),
    ]
    assert merged[0].origins == ("ImageDigestMirrorSet/a", "ImageDigestMirrorSet/b")


# --- rendering per version --------------------------------------------------------------------


def test_up_to_4_12_icsp_is_mirror_by_digest_only_and_mirror_sets_are_ignored() -> None:
    rendering = render_registries(
        [icsp("release", (RELEASE, [MIRROR, BACKUP]), (PAYLOAD, [MIRROR]))],
        [idms("ignored", ("other.io/x", ["m.io/x"]))],
        [itms("ignored-too", (RELEASE, ["tags.io/x"]))],
        version=(4, 12),
    )
    assert entries(rendering) == {
        RELEASE: (False, False, True, [(MIRROR, "", False), (BACKUP, "", False)]),
        PAYLOAD: (False, False, True, [(MIRROR, "", False)]),
    }
    assert (
        "ignored: ImageDigestMirrorSet/ignored, ImageTagMirrorSet/ignored-too"
        in (rendering.notes[0])
    )


def test_from_4_13_digest_and_tag_mirrors_per_mirror_and_never_contact_source() -> None:
    rendering = render_registries(
        [icsp("legacy", (RELEASE, [BACKUP]))],
        [
            idms("release", (RELEASE, [MIRROR, BACKUP])),
            idms("payload", (PAYLOAD, [MIRROR]), policy="NeverContactSource"),
        ],
        [
            itms("tags", (RELEASE, ["tags.corp.example/ocp4"])),
            itms("tags-only", ("registry.redhat.io/ubi9", ["tags.corp.example/ubi9"])),
        ],
        version=(4, 14),
    )
    assert entries(rendering) == {
        PAYLOAD: (True, False, False, [(MIRROR, DIGEST_ONLY, False)]),
        RELEASE: (
            False,
            False,
            False,
            [
                (MIRROR, DIGEST_ONLY, False),  # ICSP and IDMS orders merged
                (BACKUP, DIGEST_ONLY, False),
                ("tags.corp.example/ocp4", "tag-only", False),  # ITMS after the digest mirrors
            ],
        ),
        "registry.redhat.io/ubi9": (
            False,
            False,
            False,
            [("tags.corp.example/ubi9", "tag-only", False)],
        ),
    }
    assert not rendering.problems
    assert rendering.origins[RELEASE] == (
        "ImageContentSourcePolicy/legacy",
        "ImageDigestMirrorSet/release",
        "ImageTagMirrorSet/tags",
    )
    # ICSP + IDMS on 4.14, its z-stream unknown: 4.14.0-4.14.2 refuse it.
    assert [p.code for p in rendering.possible_problems] == ["icsp-with-idms"]


@pytest.mark.parametrize(
    ("version", "z_stream", "refused", "possibly"),
    [
        ((4, 13), 4, True, False),
        ((4, 13), 26, True, False),
        ((4, 13), 27, False, False),
        ((4, 13), None, False, True),
        ((4, 14), 2, True, False),
        ((4, 14), 3, False, False),
        ((4, 15), None, False, False),
        ((4, 15), 0, False, False),
    ],
)
def test_icsp_beside_idms_is_refused_before_the_backport(
    version: tuple[int, int], z_stream: Optional[int], refused: bool, possibly: bool
) -> None:
    # machine-config-operator RejectMultiUpdateMirrorSetObjs, removed by "support icsp and
    # idms objects" (4.13.27, 4.14.3); the nodes then keep the file they have.
    rendering = render_registries(
        [icsp("legacy", (RELEASE, [MIRROR]))],
        [idms("payload", (PAYLOAD, [MIRROR]))],
        [],
        version=version,
        z_stream=z_stream,
    )
    wording = "both imagecontentsourcepolicy and imagedigestmirrorset exist"
    assert rendering.refused is refused
    assert [p.message for p in rendering.problems] == ([wording] if refused else [])
    assert [p.message for p in rendering.possible_problems] == ([wording] if possibly else [])
    if refused or possibly:
        (problem,) = rendering.problems or rendering.possible_problems
        assert problem.origin == "ImageContentSourcePolicy/legacy"
    # An ICSP alone, or IDMS alone, is never refused for this.
    alone = render_registries(
        [icsp("legacy", (RELEASE, [MIRROR]))], [], [], version=version, z_stream=z_stream
    )
    assert not alone.problems and not alone.possible_problems


def test_conflicting_source_policies_are_refused_like_the_mco() -> None:
    rendering = render_registries(
        [],
        [
            idms("a", (RELEASE, [MIRROR]), policy="NeverContactSource"),
            idms("b", (RELEASE, [BACKUP])),
        ],
        [],
        version=(4, 15),
    )
    (refusal,) = rendering.problems
    assert (refusal.origin, refusal.field) == (
        "ImageDigestMirrorSet/b",
        "spec.imageDigestMirrors[0].mirrorSourcePolicy",
    )
    assert refusal.message == (
        f'conflicting mirrorSourcePolicy is set for the same source "{RELEASE}" in '
        "imagedigestmirrorsets, imagetagmirrorsets, or imagecontentsourcepolicies"
    )
    # 4.13/4.14 word it without ICSPs.
    older = render_registries(
        [],
        [
            idms("a", (RELEASE, [MIRROR]), policy="NeverContactSource"),
            idms("b", (RELEASE, [BACKUP])),
        ],
        [],
        version=(4, 14),
    )
    assert older.problems[0].message.endswith("in imagedigestmirrorsets and/or imagetagmirrorsets")
    # An ICSP always allows contacting the source: it conflicts with NeverContactSource.
    with_icsp = render_registries(
        [icsp("legacy", (RELEASE, [BACKUP]))],
        [idms("a", (RELEASE, [MIRROR]), policy="NeverContactSource")],
        [],
        version=(4, 16),
    )
    assert with_icsp.problems[0].origin == "ImageContentSourcePolicy/legacy"
    never_self = render_registries(
        [],
        [idms("c", (RELEASE, [RELEASE, MIRROR]), policy="NeverContactSource")],
        [],
        version=(4, 15),
    )
    assert never_self.problems[0].field == "spec.imageDigestMirrors[0].mirrors[0]"
    assert never_self.problems[0].message == (
        f'cannot set mirrorSourcePolicy: NeverContactSource if the source "{RELEASE}" is one '
        "of the mirrors"
    )


def test_insecure_blocked_and_nested_scopes() -> None:
    objects = [idms("team", ("registry.example.com/team", ["mirror.example.net/team"]))]
    config = image_config(
        insecure=("mirror.example.net",), blocked=("registry.example.com/team/secret",)
    )
    rendering = render_registries([], objects, [], version=(4, 14), image_config=config)
    assert entries(rendering) == {
        # The mirror lies in an insecure scope.
        "mirror.example.net": (False, True, False, []),
        "registry.example.com/team": (
            False,
            False,
            False,
            [("mirror.example.net/team", DIGEST_ONLY, True)],
        ),
        # The blocked child inherits the parent's mirrors, path adjusted (4.11+).
        "registry.example.com/team/secret": (
            True,
            False,
            False,
            [("mirror.example.net/team/secret", DIGEST_ONLY, True)],
        ),
    }
    # 4.10: no propagation into nested scopes; 4.11/4.12 copy mirror-by-digest-only too.
    old = render_registries(
        [icsp("team", ("registry.example.com/team", ["mirror.example.net/team"]))],
        [],
        [],
        version=(4, 10),
        image_config=config,
    )
    assert entries(old)["registry.example.com/team/secret"] == (True, False, False, [])
    mid = render_registries(
        [icsp("team", ("registry.example.com/team", ["mirror.example.net/team"]))],
        [],
        [],
        version=(4, 12),
        image_config=config,
    )
    assert entries(mid)["registry.example.com/team/secret"] == (
        True,
        False,
        True,
        [("mirror.example.net/team/secret", "", True)],
    )


def test_a_blocked_registry_spares_the_payload_unless_it_has_a_mirror() -> None:
    release = f"{RELEASE}@{DIGEST}"
    config = image_config(blocked=("quay.io",))
    unmirrored = render_registries(
        [], [], [], version=(4, 14), image_config=config, release_image=release
    )
    assert entries(unmirrored) == {}
    assert "would block the release payload" in unmirrored.notes[0]
    mirrored = render_registries(
        [],
        [idms("r", (RELEASE, [MIRROR]))],
        [],
        version=(4, 14),
        image_config=config,
        release_image=release,
    )
    assert entries(mirrored)["quay.io"] == (True, False, False, [])
    assert entries(mirrored)[RELEASE][0] is True  # nested in the blocked scope
    legacy = render_registries(
        [], [], [], version=(4, 10), image_config=config, release_image=release
    )
    assert entries(legacy) == {}


# --- coverage -----------------------------------------------------------------------------


def test_coverage_and_mapping_a_mirror_back_to_its_source() -> None:
    rendering = render_registries(
        [], [idms("r", ("quay.io/openshift-release-dev", [MIRROR]))], [], version=(4, 14)
    )
    covered = coverage(rendering.config, PAYLOAD, DIGEST)
    assert covered.covered and covered.entry == "quay.io/openshift-release-dev"
    assert covered.mirrors == (f"{MIRROR}/ocp-v4.0-art-dev",)
    assert not coverage(rendering.config, "registry.redhat.io/ubi9/ubi", DIGEST).covered
    tags_only = render_registries([], [], [itms("t", (RELEASE, [MIRROR]))], version=(4, 14))
    assert not coverage(tags_only.config, RELEASE, DIGEST).covered
    assert source_of(rendering.config, f"{MIRROR}/ocp-release") == f"{RELEASE}"
    assert source_of(rendering.config, "elsewhere.io/x") == "elsewhere.io/x"


def test_a_mirror_that_cannot_rewrite_the_reference_is_not_coverage() -> None:
    rendering = render_registries(
        [], [idms("r", (RELEASE, ["mirror.corp.example"]))], [], version=(4, 14)
    )
    found = coverage(rendering.config, RELEASE, DIGEST)
    assert not found.covered and "not a valid image reference" in str(found.problem)


# --- comparison with a node ---------------------------------------------------------------


@pytest.fixture
def rendering() -> Rendering:
    return render_registries(
        [icsp("legacy", (PAYLOAD, [MIRROR]))],
        [idms("release", (RELEASE, [MIRROR, BACKUP]), policy="NeverContactSource")],
        [itms("tags", ("registry.redhat.io/ubi9", ["tags.corp.example/ubi9"]))],
        version=(4, 15),
    )


def test_the_mco_file_itself_agrees(rendering: Rendering) -> None:
    node = effective_of(("/etc/containers/registries.conf", mco_toml(rendering)))
    assert compare(rendering, node) == []


def test_comparison_is_semantic_not_textual(rendering: Rendering) -> None:
    # Another layout: prefix keys, other key order, entries split across a drop-in, an
    # unrelated entry, search registries changed, mirror-by-digest-only instead of
    # per-mirror digest-only (the same rule, as 4.12 renders it).
    main = f"""
unqualified-search-registries = ["registry.example.com"]

[[registry]]
location = "{RELEASE}"
blocked = true
prefix = "{RELEASE}"
mirror = [{{ location = "{MIRROR}", pull-from-mirror = "digest-only" }},
          {{ location = "{BACKUP}", pull-from-mirror = "digest-only" }}]

[[registry]]
prefix = "registry.internal.example"
location = "registry.internal.example"
insecure = true
"""
    drop_in = f"""
[[registry]]
location = "{PAYLOAD}"
mirror-by-digest-only = true
[[registry.mirror]]
location = "{MIRROR}"

[[registry]]
location = "registry.redhat.io/ubi9"
[[registry.mirror]]
pull-from-mirror = "tag-only"
location = "tags.corp.example/ubi9"
"""
    node = effective_of(
        ("/etc/containers/registries.conf", main),
        ("/etc/containers/registries.conf.d/99-mirrors.conf", drop_in),
    )
    assert compare(rendering, node) == []


def _mutated(rendering: Rendering, old: str, new: str) -> list[dict[str, Any]]:
    text = mco_toml(rendering)
    assert old in text
    return effective_of(("/etc/containers/registries.conf", text.replace(old, new, 1)))


def test_mirror_order_rules_and_blocked_are_compared(rendering: Rendering) -> None:
    swapped = (
        mco_toml(rendering).replace(MIRROR, "@@").replace(BACKUP, MIRROR).replace("@@", BACKUP)
    )
    swapped_node = effective_of(("/etc/containers/registries.conf", swapped))
    aspects = {(d.prefix, d.aspect) for d in compare(rendering, swapped_node)}
    assert (RELEASE, "mirrors") in aspects and (PAYLOAD, "mirrors") in aspects

    tag_rule = _mutated(rendering, '"tag-only"', '"all"')
    (difference,) = compare(rendering, tag_rule)
    assert difference.prefix == "registry.redhat.io/ubi9" and difference.severity == "fail"
    assert "(tag-only)" in difference.expected and "(all)" in difference.actual

    unblocked = _mutated(rendering, "blocked = true", "blocked = false")
    (difference,) = compare(rendering, unblocked)
    assert (difference.prefix, difference.aspect) == (RELEASE, "blocked")
    assert "blocked: expected true; the node has false" in difference.text()


def test_missing_and_unexpected_entries(rendering: Rendering) -> None:
    node = effective_of(("/etc/containers/registries.conf", mco_toml(rendering)))
    without_payload = [entry for entry in node if entry["prefix"] != PAYLOAD]
    (missing,) = compare(rendering, without_payload)
    assert (missing.prefix, missing.aspect, missing.severity) == (PAYLOAD, "missing-entry", "fail")
    extra = [
        *node,
        {
            "prefix": "old.io/x",
            "location": "old.io/x",
            "insecure": False,
            "blocked": False,
            "mirrorByDigestOnly": True,
            "mirrors": [{"location": "m.io/x", "insecure": False, "pullFromMirror": ""}],
        },
    ]
    (unexpected,) = compare(rendering, extra)
    assert (unexpected.aspect, unexpected.severity) == ("unexpected-mirrors", "warn")


def test_without_the_image_config_insecure_and_extra_blocking_are_not_judged() -> None:
    objects = [idms("team", ("registry.example.com/team", ["mirror.example.net/team"]))]
    config = image_config(
        insecure=("mirror.example.net",), blocked=("registry.example.com/team/secret",)
    )
    full = render_registries([], objects, [], version=(4, 14), image_config=config)
    node = effective_of(("/etc/containers/registries.conf", mco_toml(full)))
    assert compare(full, node) == []
    unknown = render_registries([], objects, [], version=(4, 14), flags_known=False)
    # Insecure mirrors, the insecure and the blocked entries are not known to be wrong; the
    # blocked child's mirrors are explained by the parent's (nested scopes).
    assert compare(unknown, node) == []
    # With the flags known, a node without the insecure flag disagrees.
    secure = effective_of(
        (
            "/etc/containers/registries.conf",
            mco_toml(full).replace("insecure = true", "insecure = false"),
        )
    )
    assert {d.aspect for d in compare(full, secure)} >= {"insecure mirrors", "insecure"}


# --- extra node entries inside a mirrored scope (the longest match wins) -----------------------

NAMESPACE = "quay.io/openshift-release-dev"
NAMESPACE_MIRROR = "mirror.corp.example:8443/ocp/openshift-release-dev"


def _namespace_scope(**options: Any) -> Rendering:
    objects = [idms("oc-mirror", (NAMESPACE, [NAMESPACE_MIRROR]), **options)]
    return render_registries([], objects, [], version=(4, 14), image_config=None)


def _with_drop_in(rendering: Rendering, drop_in: str) -> list[dict[str, Any]]:
    return effective_of(
        ("/etc/containers/registries.conf", mco_toml(rendering)),
        ("/etc/containers/registries.conf.d/50-debug.conf", drop_in),
    )


def test_an_extra_entry_inside_a_mirrored_scope_shadows_its_mirrors() -> None:
    # An unmanaged drop-in for the payload repository, under a namespace-scope IDMS: every
    # payload pull now goes to quay.io, although the rendered scope covers it.
    rendering = _namespace_scope()
    node = _with_drop_in(rendering, f'[[registry]]\nlocation = "{PAYLOAD}"\ninsecure = true\n')
    (difference,) = compare(rendering, node)
    assert (difference.prefix, difference.aspect, difference.severity) == (
        PAYLOAD,
        "shadowing-entry",
        "fail",
    )
    assert difference.scope == NAMESPACE
    assert difference.text() == (
        f"{PAYLOAD}: an entry no mirror set renders, inside {NAMESPACE}, takes its pulls (the "
        f"longest match wins): expected {NAMESPACE_MIRROR}/ocp-v4.0-art-dev (digest-only); the "
        "node has no mirrors"
    )
    assert difference.to_json()["scope"] == NAMESPACE
    # Its own, other mirrors take the pulls away too.
    other = _with_drop_in(
        rendering,
        f'[[registry]]\nlocation = "{PAYLOAD}"\n[[registry.mirror]]\nlocation = "{BACKUP}"\n',
    )
    (difference,) = compare(rendering, other)
    assert (difference.aspect, difference.severity) == ("shadowing-entry", "fail")
    assert difference.actual == f"{BACKUP} (all)"


def test_an_extra_entry_that_repeats_the_scope_rules_or_lies_outside_is_not_shadowing() -> None:
    rendering = _namespace_scope()
    repeated = _with_drop_in(
        rendering,
        f'[[registry]]\nlocation = "{PAYLOAD}"\n[[registry.mirror]]\n'
        f'location = "{NAMESPACE_MIRROR}/ocp-v4.0-art-dev"\npull-from-mirror = "digest-only"\n',
    )
    # Resolution is unchanged; with image.config known it is still an unrendered entry.
    assert [(d.aspect, d.severity) for d in compare(rendering, repeated)] == [
        ("unexpected-mirrors", "warn")
    ]
    unknown = render_registries(
        [],
        [idms("oc-mirror", (NAMESPACE, [NAMESPACE_MIRROR]))],
        [],
        version=(4, 14),
        flags_known=False,
    )
    assert compare(unknown, repeated) == []
    outside = _with_drop_in(
        rendering, '[[registry]]\nlocation = "quay.io/openshift-release-devel"\ninsecure = true\n'
    )
    assert compare(rendering, outside) == []  # a sibling name, not nested: ignored


def test_an_extra_entry_that_unblocks_a_never_contact_source_scope() -> None:
    rendering = _namespace_scope(policy="NeverContactSource")
    child = (
        f'[[registry]]\nlocation = "{PAYLOAD}"\n[[registry.mirror]]\n'
        f'location = "{NAMESPACE_MIRROR}/ocp-v4.0-art-dev"\npull-from-mirror = "digest-only"\n'
    )
    (difference,) = compare(rendering, _with_drop_in(rendering, child))
    assert (difference.aspect, difference.severity) == ("shadowing-entry", "fail")
    assert difference.expected.endswith("source blocked")
    assert difference.actual.endswith("source not blocked")
    blocked = _with_drop_in(rendering, child.replace("\n[[", "\nblocked = true\n[[", 1))
    assert [d.aspect for d in compare(rendering, blocked)] == ["unexpected-mirrors"]


def test_before_4_11_an_unseen_registry_sources_entry_may_be_the_mcos_own() -> None:
    # The MCO of 4.10 renders blockedRegistries scopes without the parent's mirrors: without
    # image.config such an entry is a warning, not a failure.
    sets = [icsp("team", ("registry.example.com/team", ["mirror.example.net/team"]))]
    config = image_config(blocked=("registry.example.com/team/secret",))
    full = render_registries(sets, [], [], version=(4, 10), image_config=config)
    node = effective_of(("/etc/containers/registries.conf", mco_toml(full)))
    assert compare(full, node) == []
    unknown = render_registries(sets, [], [], version=(4, 10), flags_known=False)
    (difference,) = compare(unknown, node)
    assert (difference.prefix, difference.aspect, difference.severity) == (
        "registry.example.com/team/secret",
        "shadowing-entry",
        "warn",
    )
