"""openshift/runtime-utils' tests of ``pkg/registries`` (what the Machine Config Operator
vendors to edit registries.conf), ported to the checklist's renderer
(agent/checklist/mirrors.py) and validation (agent/checklist/mco_validation.py).

Upstream: openshift/runtime-utils ``pkg/registries/registries_test.go`` and
``pkg/registries/topo_test.go`` at 7bdb5b9c177bb6cffa97b556a0685e3db10706a6 (the version
machine-config-operator release-4.13 … 4.22 vendors), written anew from reading them.
``EditRegistriesConfig`` cases run through ``render_registries`` for OCP 4.14; the merge
cases through rendered ICSP, IDMS and ITMS objects; ``mirrorsAdjustedForNestedScope``
through nested scopes (its refusal of a wildcard scope is the MCO's refusal to render).
"""

from __future__ import annotations

from typing import Any, Optional

import pytest

from agent.checklist.mco_validation import valid_scope
from agent.checklist.mirror_sets import scope_nested, topological_order
from tests.unit.upstream.mirror_objects import (
    DIGEST_ONLY,
    TAG_ONLY,
    entries,
    entry,
    icsp,
    idms,
    itms,
    render,
)

V414 = (4, 14)


@pytest.mark.parametrize(
    ("sub", "sup", "nested"),
    [
        ("quay.io", "example.com", False),
        ("quay.io", "quay.io", True),
        ("quay.io:443", "quay.io", False),  # another port, though a string prefix
        ("quay.io:443", "quay.io:444", False),
        ("quay.io.example.com", "quay.io", False),
        ("quay.io2", "quay.io", False),
        ("quay.io/ns1", "quay.io", True),
        ("quay.io/ns1/ns2/ns3", "quay.io", True),
        ("quay.io/ns1/ns2/ns3", "not-quay.io", False),
        ("bar/example.foo", "*.foo", False),  # a wildcard matches host names only
        ("example/bar.foo/quay.io", "*.foo", False),
        ("example/bar.foo:400", "*.foo", False),
        ("foo.example.com", "*.example.com", True),
        ("*.foo.example.com", "*.example.com", True),
        ("foo.example.com/bar", "*.example.com", True),
        ("foo.registry.com", "*.example.com", False),
        ("foo.example.com", "**.example.com", False),
        ("foo.example.com", "example.*.com", False),
        ("foo.example.com", "*.example.com/foo/bar", False),
        ("foo.example.com:443/bar/baz", "*.example.com", True),
        ("foo.example.com:443/bar/baz", "*.example.com/bar/baz", False),
        ("foo.example.com", "*example.com", False),
        ("foo.example.com", "*/example.com", False),
    ],
)
def test_scope_is_nested_inside_scope(sub: str, sup: str, nested: bool) -> None:
    assert scope_nested(sub, sup) is nested


@pytest.mark.parametrize(
    ("scope", "valid"),
    [
        ("example.com", True),
        ("*.example.com", True),
        ("**.example.com", False),
        ("example.*.com", False),
        ("*.example.com/foo/bar", False),
        ("*.example.com:foo", False),
        ("*.example.com/foo:sha@bar", False),
        ("*.example.com.*.bar.com", False),
        ("*example.com", False),
        ("*/example.com", False),
        ("*.*example.com", False),
        ("", False),
    ],
)
def test_is_valid_registries_conf_scope(scope: str, valid: bool) -> None:
    assert valid_scope(scope, V414) is valid
    # Through the renderer: an invalid insecure scope is a refusal.
    assert render(V414, insecure=(scope,)).refused is not valid


SOURCE = "source.example.com"


@pytest.mark.parametrize(
    ("mirrors", "real"),
    [
        ([], False),
        (["mirror.local"], True),
        ([SOURCE], False),
        ([SOURCE, SOURCE, SOURCE], False),
        (["mirror.local", SOURCE], True),
        ([SOURCE, "mirror.local"], True),
        (["m1.local", "m2.local", "m3.local"], True),
    ],
)
def test_a_set_without_a_real_mirror_is_not_a_mirror_set(mirrors: list[str], real: bool) -> None:
    rendering = render(V414, idmss=(idms((SOURCE, mirrors)),))
    assert (rendering.entry(SOURCE) is not None) is real


# --- mergedMirrorsetsTestcases, through ICSP, IDMS and ITMS objects --------------------------

Set = tuple[str, list[str], Optional[str]]  # source, mirrors, mirrorSourcePolicy
MERGE_CASES: dict[str, tuple[list[list[Set]], dict[str, tuple[list[str], bool]]]] = {
    "empty": ([], {}),
    "irrelevant singletons": (
        [[("a.example.com", [], None), ("b.example.com", [], None)]],
        {},
    ),
    # Names start with letters counting down, so alphabetical order would be visible.
    "separate sets": (
        [
            [("source.example.net", ["z1.example.net", "y2.example.net", "x3.example.net"], None)],
            [("source.example.com", ["z1.example.com", "y2.example.com", "x3.example.com"], None)],
        ],
        {
            "source.example.com": (["z1.example.com", "y2.example.com", "x3.example.com"], False),
            "source.example.net": (["z1.example.net", "y2.example.net", "x3.example.net"], False),
        },
    ),
    "separate sets with mirrorSourcePolicy": (
        [
            [
                (
                    "source.example.net",
                    ["z1.example.net", "y2.example.net", "x3.example.net"],
                    "NeverContactSource",
                )
            ],
            [
                (
                    "source.example.com",
                    ["z1.example.com", "y2.example.com", "x3.example.com"],
                    "AllowContactingSource",
                )
            ],
        ],
        {
            "source.example.com": (["z1.example.com", "y2.example.com", "x3.example.com"], False),
            "source.example.net": (["z1.example.net", "y2.example.net", "x3.example.net"], True),
        },
    ),
    "a shared element orders strictly": (
        [
            [
                ("source.example.net", ["z1.example.net", "y2.example.net"], None),
                ("source.example.com", ["z1.example.com", "y2.example.com"], None),
            ],
            [
                ("source.example.net", ["y2.example.net", "x3.example.net"], None),
                ("source.example.com", ["y2.example.com", "x3.example.com"], None),
            ],
        ],
        {
            "source.example.com": (["z1.example.com", "y2.example.com", "x3.example.com"], False),
            "source.example.net": (["z1.example.net", "y2.example.net", "x3.example.net"], False),
        },
    ),
    # Unspecified by the API; upstream only pins a stable, reasonable answer.
    "the source among the mirrors": (
        [
            [
                (SOURCE, ["z1.example.com", SOURCE, "y2.example.com"], None),
                (SOURCE, [SOURCE, "y2.example.com", "x3.example.com"], None),
            ]
        ],
        {SOURCE: (["z1.example.com", SOURCE, "y2.example.com", "x3.example.com"], False)},
    ),
    "only the source among the mirrors": (
        [
            [
                (SOURCE, [SOURCE], None),
                ("source.example.net", ["source.example.net"] * 3, None),
            ]
        ],
        {},
    ),
    "vendor defaults and local mirrors": (
        [
            [("source.vendor.com", ["registry2.vendor.com"], None)],
            [("source.vendor2.com", ["registry1.vendor2.com", "registry2.vendor2.com"], None)],
            [
                ("source.vendor.com", ["local-mirror.example.com"], None),
                (
                    "source.vendor2.com",
                    [
                        "local-mirror2.example.com",
                        "registry2.vendor2.com",
                        "registry1.vendor2.com",
                    ],
                    None,
                ),
            ],
        ],
        {
            "source.vendor.com": (["local-mirror.example.com", "registry2.vendor.com"], False),
            "source.vendor2.com": (
                [
                    "local-mirror2.example.com",
                    "registry1.vendor2.com",
                    "registry2.vendor2.com",
                ],
                False,
            ),
        },
    ),
}


def merged(
    kind: str, objects: list[list[Set]], version: tuple[int, int] = V414
) -> dict[str, tuple[list[str], bool]]:
    made: list[dict[str, Any]] = []
    for number, sets in enumerate(objects):
        pairs = tuple((source, mirrors) for source, mirrors, _ in sets)
        policies = {source: policy for source, _, policy in sets if policy}
        if kind == "icsp":
            made.append(icsp(*pairs, name=f"o{number}"))
        elif kind == "idms":
            made.append(idms(*pairs, name=f"o{number}", policies=policies))
        else:
            made.append(itms(*pairs, name=f"o{number}", policies=policies))
    rendering = render(
        version,
        icsps=tuple(made) if kind == "icsp" else (),
        idmss=tuple(made) if kind == "idms" else (),
        itmss=tuple(made) if kind == "itms" else (),
    )
    assert rendering.problems == ()
    return {
        one.prefix: ([m.location for m in one.mirrors], one.blocked) for one in rendering.entries
    }


@pytest.mark.parametrize("name", sorted(MERGE_CASES))
@pytest.mark.parametrize("kind", ["idms", "itms", "icsp"])
def test_merged_mirror_sets(kind: str, name: str) -> None:
    objects, expected = MERGE_CASES[name]
    if kind == "icsp":
        # An ICSP has no mirrorSourcePolicy: its sets always allow contacting the source
        # (upstream leaves the policy cases out for it).
        objects = [[(s, m, None) for s, m, _ in sets] for sets in objects]
        expected = {source: (mirrors, False) for source, (mirrors, _) in expected.items()}
    assert merged(kind, objects) == expected
    if kind == "icsp":  # and the same order before 4.13, with mirror-by-digest-only
        assert merged(kind, objects, (4, 12)) == expected


# --- topoGraph ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edges", "order"),
    [
        # Two copies of each structure (upper and lower case) in one graph; only the order
        # within each copy is specified.
        ([], ""),
        (["AB", "AC", "AD", "ab", "ac", "ad"], "AaBCDbcd"),
        (["AD", "BD", "CD", "ad", "bd", "cd"], "ABCabcDd"),
        (["AB", "BC", "CD", "DE", "ab", "bc", "cd", "de"], "AaBbCcDdEe"),
        (["AB", "BC", "CD", "DA", "ab", "bc", "cd", "da"], "ABCDabcd"),  # a complete loop
        (["AB", "BC", "CD", "DB", "DE", "ab", "bc", "cd", "db", "de"], "AaBCDEbcde"),
    ],
    ids=["empty", "shared-from", "shared-to", "path", "loop", "loop-in-out"],
)
def test_topological_order(edges: list[str], order: str) -> None:
    # Each edge is a mirror set "X, Y" that also names a source sorting after every mirror
    # ("~"): no edge is added to it, and as it sorts last it is left out of the order.
    for offset in range(max(len(edges), 1)):  # every insertion order gives the same answer
        rotated = edges[offset:] + edges[:offset]
        chains = [[edge[0], edge[1], "~"] for edge in rotated]
        assert "".join(topological_order(chains, "~")) == order


# --- mirrorsAdjustedForNestedScope ----------------------------------------------------------


def test_mirrors_adjusted_for_a_nested_scope() -> None:
    rendering = render(
        V414,
        insecure=("example.com/subscope",),
        idmss=(idms(("example.com", ["mirror-1.com", "mirror-2.com/nested"])),),
    )
    assert entries(rendering)["example.com/subscope"]["mirrors"] == [
        ("mirror-1.com/subscope", DIGEST_ONLY, False),
        ("mirror-2.com/nested/subscope", DIGEST_ONLY, False),
    ]


def test_mirrors_are_not_adjusted_for_a_wildcard_scope() -> None:
    rendering = render(
        (4, 16),
        blocked=("*.nested.example.com",),
        idmss=(idms(("*.example.com", ["mirror.example.net"])),),
    )
    (refusal,) = rendering.problems
    assert 'mirrorsAdjustedForNestedScope for a wildcard scope "*.example.com"' in (refusal.message)
    assert entries(rendering)["*.nested.example.com"]["mirrors"] == []


# --- TestEditRegistriesConfig ---------------------------------------------------------------

INSECURE = ("insecure.com", "*.insecure-example.com", "*.insecure.blocked-example.com")
BLOCKED = ("blocked.com", "*.blocked.insecure-example.com", "*.blocked-example.com")
SCOPE_ENTRIES = {
    "blocked.com": entry(blocked=True),
    "*.blocked.insecure-example.com": entry(blocked=True, insecure=True),
    "*.blocked-example.com": entry(blocked=True),
    "insecure.com": entry(insecure=True),
    "*.insecure-example.com": entry(insecure=True),
    "*.insecure.blocked-example.com": entry(blocked=True, insecure=True),
}


def test_edit_unchanged_and_insecure_blocked() -> None:
    assert render(V414).entries == ()
    rendering = render(
        V414,
        insecure=("registry.access.redhat.com", "insecure.com", "common.com"),
        blocked=("blocked.com", "common.com", "docker.io"),
    )
    assert entries(rendering) == {
        "blocked.com": entry(blocked=True),
        "common.com": entry(blocked=True, insecure=True),
        "docker.io": entry(blocked=True),
        "registry.access.redhat.com": entry(insecure=True),
        "insecure.com": entry(insecure=True),
    }


def three_sets(tag: str) -> tuple[tuple[str, list[str]], ...]:
    return (
        (f"insecure.com/ns-{tag}i1", ["blocked.com/ns-b1", "other.com/ns-o1"]),
        (f"blocked.com/ns-{tag}b/ns2-b", ["other.com/ns-o2", "insecure.com/ns-i2"]),
        (
            f"other.com/ns-{tag}o3",
            ["insecure.com/ns-i2", "blocked.com/ns-b/ns3-b", "foo.insecure-example.com/bar"],
        ),
    )


def three_entries(tag: str) -> dict[str, Any]:
    return {
        f"blocked.com/ns-{tag}b/ns2-b": entry(
            blocked=True,
            mirrors=(
                ("other.com/ns-o2", DIGEST_ONLY, False),
                ("insecure.com/ns-i2", DIGEST_ONLY, True),
            ),
        ),
        f"insecure.com/ns-{tag}i1": entry(
            insecure=True,
            mirrors=(
                ("blocked.com/ns-b1", DIGEST_ONLY, False),
                ("other.com/ns-o1", DIGEST_ONLY, False),
            ),
        ),
        f"other.com/ns-{tag}o3": entry(
            mirrors=(
                ("insecure.com/ns-i2", DIGEST_ONLY, True),
                ("blocked.com/ns-b/ns3-b", DIGEST_ONLY, False),
                ("foo.insecure-example.com/bar", DIGEST_ONLY, True),
            )
        ),
    }


@pytest.mark.parametrize("kind", ["icsp", "idms"])
def test_edit_mirror_sets_with_insecure_and_blocked_wildcard_scopes(kind: str) -> None:
    objects = icsp(*three_sets("")) if kind == "icsp" else idms(*three_sets(""))
    rendering = render(
        V414,
        insecure=INSECURE,
        blocked=BLOCKED,
        icsps=(objects,) if kind == "icsp" else (),
        idmss=(objects,) if kind == "idms" else (),
    )
    assert entries(rendering) == {**three_entries(""), **SCOPE_ENTRIES}


def test_edit_tag_and_digest_mirror_sets() -> None:
    tags = render(
        V414,
        itmss=(
            itms(
                ("registry-a.com", ["mirror-tag-1.registry-a.com"]),
                ("registry-b.com", ["mirror-tag-1.registry-b.com"]),
            ),
        ),
    )
    assert entries(tags) == {
        "registry-a.com": entry(mirrors=(("mirror-tag-1.registry-a.com", TAG_ONLY, False),)),
        "registry-b.com": entry(mirrors=(("mirror-tag-1.registry-b.com", TAG_ONLY, False),)),
    }
    both = render(
        V414,
        idmss=(
            idms(
                (
                    "registry-a.com",
                    ["mirror-digest-1.registry-a.com", "mirror-digest-2.registry-a.com"],
                ),
            ),
        ),
        itmss=(
            itms(
                ("registry-a.com", ["mirror-tag-1.registry-a.com", "mirror-tag-2.registry-a.com"])
            ),
        ),
    )
    assert entries(both)["registry-a.com"]["mirrors"] == [
        ("mirror-digest-1.registry-a.com", DIGEST_ONLY, False),
        ("mirror-digest-2.registry-a.com", DIGEST_ONLY, False),
        ("mirror-tag-1.registry-a.com", TAG_ONLY, False),
        ("mirror-tag-2.registry-a.com", TAG_ONLY, False),
    ]


def test_edit_mirror_source_policy_blocks_the_source() -> None:
    rendering = render(
        V414,
        idmss=(
            idms(
                (
                    "registry-a.com",
                    ["mirror-digest-1.registry-a.com", "mirror-digest-2.registry-a.com"],
                ),
                (
                    "registry-b.com",
                    ["mirror-digest-1.registry-b.com", "mirror-digest-2.registry-b.com"],
                ),
                (
                    "registry-c.com",
                    ["mirror-digest-1.registry-c.com", "mirror-digest-2.registry-c.com"],
                ),
                policies={"registry-a.com": "NeverContactSource"},
            ),
        ),
        itmss=(
            itms(
                ("registry-b.com", ["mirror-tag-1.registry-b.com", "mirror-tag-2.registry-b.com"]),
                policies={"registry-b.com": "NeverContactSource"},
            ),
        ),
    )
    # registry-b.com: AllowContactingSource (IDMS) against NeverContactSource (ITMS) is a
    # conflict the MCO refuses before runtime-utils runs; runtime-utils alone blocks it.
    assert {scope: found["blocked"] for scope, found in entries(rendering).items()} == {
        "registry-a.com": True,
        "registry-b.com": True,
        "registry-c.com": False,
    }
    assert [r.field for r in rendering.problems] == ["spec.imageTagMirrors[0].mirrorSourcePolicy"]
    assert entries(rendering)["registry-b.com"]["mirrors"] == [
        ("mirror-digest-1.registry-b.com", DIGEST_ONLY, False),
        ("mirror-digest-2.registry-b.com", DIGEST_ONLY, False),
        ("mirror-tag-1.registry-b.com", TAG_ONLY, False),
        ("mirror-tag-2.registry-b.com", TAG_ONLY, False),
    ]


@pytest.mark.parametrize("with_tags", [True, False], ids=["idms+itms", "icsp"])
def test_edit_insecure_and_blocked_scopes_inside_a_mirrored_scope(with_tags: bool) -> None:
    digest_sets = (
        ("primary.com/top", ["mirror.com/primary"]),
        ("primary.com/top/insecure/more-specific", ["mirror.com/more-specific"]),
    )
    tag_sets = (
        ("primary.com/top", ["mirror-tag.com/primary"]),
        ("primary.com/top/insecure/more-specific", ["mirror-tag.com/more-specific"]),
    )
    rendering = render(
        V414,
        insecure=("primary.com/top/insecure",),
        blocked=("primary.com/top/blocked",),
        idmss=(idms(*digest_sets),) if with_tags else (),
        itmss=(itms(*tag_sets),) if with_tags else (),
        icsps=() if with_tags else (icsp(*digest_sets),),
    )

    def mirrors(digest: str, tag: str) -> tuple[tuple[str, str, bool], ...]:
        found = ((digest, DIGEST_ONLY, False),)
        return (*found, (tag, TAG_ONLY, False)) if with_tags else found

    assert entries(rendering) == {
        "primary.com/top": entry(mirrors=mirrors("mirror.com/primary", "mirror-tag.com/primary")),
        "primary.com/top/insecure/more-specific": entry(
            insecure=True,
            mirrors=mirrors("mirror.com/more-specific", "mirror-tag.com/more-specific"),
        ),
        "primary.com/top/blocked": entry(
            blocked=True,
            mirrors=mirrors("mirror.com/primary/blocked", "mirror-tag.com/primary/blocked"),
        ),
        "primary.com/top/insecure": entry(
            insecure=True,
            mirrors=mirrors("mirror.com/primary/insecure", "mirror-tag.com/primary/insecure"),
        ),
    }


def test_edit_icsp_and_idms_merge() -> None:
    rendering = render(
        V414,
        insecure=INSECURE,
        blocked=BLOCKED,
        idmss=(
            idms(
                *three_sets("idms-"),
                ("insecure.com/ns-dupe-i1", ["other.com/ns-o3"]),
                ("insecure.com/ns-dupe-i1", ["other.com/ns-o1"]),
            ),
        ),
        icsps=(icsp(*three_sets("icsp-"), ("insecure.com/ns-dupe-i1", ["other.com/ns-o2"])),),
    )
    assert entries(rendering) == {
        **three_entries("idms-"),
        **three_entries("icsp-"),
        "insecure.com/ns-dupe-i1": entry(
            insecure=True,
            mirrors=(
                ("other.com/ns-o1", DIGEST_ONLY, False),
                ("other.com/ns-o2", DIGEST_ONLY, False),
                ("other.com/ns-o3", DIGEST_ONLY, False),
            ),
        ),
        **SCOPE_ENTRIES,
    }


def test_edit_icsp_idms_and_itms_together() -> None:
    rendering = render(
        V414,
        icsps=(icsp(("registry-a.com", ["mirror-icsp-1.registry-a.com"])),),
        idmss=(idms(("registry-b.com", ["mirror-digest-1.registry-b.com"])),),
        itmss=(itms(("registry-c.com", ["mirror-tag-1.registry-c.com"])),),
    )
    assert entries(rendering) == {
        "registry-a.com": entry(mirrors=(("mirror-icsp-1.registry-a.com", DIGEST_ONLY, False),)),
        "registry-b.com": entry(mirrors=(("mirror-digest-1.registry-b.com", DIGEST_ONLY, False),)),
        "registry-c.com": entry(mirrors=(("mirror-tag-1.registry-c.com", TAG_ONLY, False),)),
    }
