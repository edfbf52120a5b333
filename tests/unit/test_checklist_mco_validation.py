"""When the Machine Config Operator refuses to render (agent/checklist/mco_validation.py and
the renderer): each refusal, for the OCP releases it applies to, and the wildcard parent
scope runtime-utils cannot propagate."""

from __future__ import annotations

from typing import Any, Optional

import pytest

from agent.checklist.mco_validation import valid_mirror, valid_scope, valid_source
from agent.checklist.mirrors import Rendering, render_registries
from tests.unit.checklist.factories import icsp, idms, itms

PAYLOAD_IMAGE = "quay.io/openshift-release-dev/ocp-release@sha256:" + "4a" * 32
ALL_VERSIONS = [(4, 8), (4, 9), (4, 10), (4, 11), (4, 12), (4, 13), (4, 14), (4, 15), (4, 16)]


def image_config(**lists: list[str]) -> dict[str, Any]:
    return {
        "spec": {"registrySources": {f"{key}Registries": value for key, value in lists.items()}}
    }


def render(
    version: tuple[int, int],
    icsps: Optional[list[dict[str, Any]]] = None,
    idmss: Optional[list[dict[str, Any]]] = None,
    itmss: Optional[list[dict[str, Any]]] = None,
    config: Optional[dict[str, Any]] = None,
    release: Optional[str] = PAYLOAD_IMAGE,
) -> Rendering:
    return render_registries(
        icsps or [],
        idmss or [],
        itmss or [],
        version=version,
        image_config=config,
        release_image=release,
    )


def refusals(rendering: Rendering) -> list[tuple[str, str, str]]:
    return [(r.origin, r.field, r.message) for r in rendering.problems]


# --- image.config scopes --------------------------------------------------------------------


@pytest.mark.parametrize("key", ["insecure", "blocked", "allowed"])
@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_an_empty_registry_sources_entry_is_refused_from_4_11(
    key: str, version: tuple[int, int]
) -> None:
    rendering = render(version, config=image_config(**{key: ["ok.example.com", ""]}))
    if version < (4, 11):
        assert rendering.problems == ()
        assert not rendering.refused
        if key != "allowed":  # rendered as is: containers/image then refuses the node's file
            assert any("empty registry or mirror" in note for note in rendering.notes)
        return
    assert refusals(rendering) == [
        (
            "Image/cluster",
            f"spec.registrySources.{key}Registries[1]",
            f'invalid entry for {key} registries ""',
        )
    ]
    assert rendering.refused


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_a_malformed_wildcard_scope_is_refused_from_4_9(version: tuple[int, int]) -> None:
    config = image_config(insecure=["*.insecure.example.com", "*.example.com/team"])
    rendering = render(version, config=config)
    expected = (
        []
        if version < (4, 9)
        else [
            (
                "Image/cluster",
                "spec.registrySources.insecureRegistries[1]",
                'invalid entry for insecure registries "*.example.com/team"',
            )
        ]
    )
    assert refusals(rendering) == expected


def test_allowed_with_blocked_is_refused_unless_only_the_payload_is_allowed() -> None:
    both = image_config(blocked=["blocked.example.com"], allowed=["allowed.example.com"])
    for version in [(4, 8), (4, 14), (4, 16)]:
        assert refusals(render(version, config=both)) == [
            (
                "Image/cluster",
                "spec.registrySources",
                "invalid images config: only one of AllowedRegistries or BlockedRegistries "
                "may be specified",
            )
        ]
    # From 4.11, blocking the payload's registry while it has a mirror makes the MCO allow
    # the payload repository itself in policy.json: that is not the user's allow list.
    payload_blocked = image_config(blocked=["quay.io", "other.example.com"])
    mirrored = [idms("release", ("quay.io/openshift-release-dev", ["mirror.example.com/ocp"]))]
    assert render((4, 14), idmss=mirrored, config=payload_blocked).problems == ()
    # ...but a user's allow list beside it is refused.
    with_allowed = image_config(blocked=["quay.io"], allowed=["allowed.example.com"])
    assert refusals(render((4, 14), idmss=mirrored, config=with_allowed))[0][2].startswith(
        "invalid images config: only one of"
    )


# --- mirror sets ----------------------------------------------------------------------------


CASES = {
    # name: (source, mirror, refused from, message of 4.11-4.15, message of 4.16+)
    "empty source": ("", "mirror.example.com/a", (4, 11), "source", None),
    "empty mirror": ("source.example.com/a", "", (4, 11), "mirror", None),
    "wildcard source with a path": (
        "*.source.example.com/ns",
        "mirror.example.com/a",
        (4, 9),
        "source",
        "wildcard",
    ),
    "wildcard mirror": (
        "source.example.com/a",
        "*.mirror.example.com",
        (4, 9),
        "mirror",
        "wildcard",
    ),
    "spaces around a mirror": (
        "source.example.com/a",
        " mirror.example.com/a ",
        (4, 16),
        "mirror",
        None,
    ),
    "uppercase path": ("source.example.com/Team", "mirror.example.com/a", (4, 16), "source", None),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_icsp_sources_and_mirrors_the_mco_refuses(case: str, version: tuple[int, int]) -> None:
    source, mirror, since, which, wildcard = CASES[case]
    rendering = render(
        version, icsps=[icsp("mirrors", ("ok.example.com", ["m.example.com"]), (source, [mirror]))]
    )
    field = "spec.repositoryDigestMirrors[1]." + ("source" if which == "source" else "mirrors[0]")
    value = source if which == "source" else mirror
    if version < since:
        assert rendering.problems == ()
        return
    if version >= (4, 16):
        message = f'invalid format for {which} "{value}"'
    elif wildcard:
        message = f'wildcard entries are not supported with mirror configuration "{value}"'
    else:
        message = f"invalid empty entry for {which} configuration"
    assert refusals(rendering) == [("ImageContentSourcePolicy/mirrors", field, message)]


@pytest.mark.parametrize("version", [(4, 13), (4, 15), (4, 16)])
def test_idms_and_itms_are_validated_from_4_13(version: tuple[int, int]) -> None:
    rendering = render(
        version,
        idmss=[idms("digests", ("source.example.com/a", ["", "mirror.example.com/a"]))],
        itmss=[itms("tags", ("*.example.com/a", ["mirror.example.com/a"]))],
    )
    assert [(origin, field) for origin, field, _ in refusals(rendering)] == [
        ("ImageDigestMirrorSet/digests", "spec.imageDigestMirrors[0].mirrors[0]"),
        ("ImageTagMirrorSet/tags", "spec.imageTagMirrors[0].source"),
    ]
    # Before 4.13 the MCO does not read them at all.
    assert render((4, 12), idmss=[idms("digests", ("", [""]))]).problems == ()


def test_a_valid_wildcard_source_is_accepted_from_4_16_only() -> None:
    sets = [idms("corp", ("*.corp.example", ["mirror.example.net/corp"]))]
    assert render((4, 16), idmss=sets).problems == ()
    (refusal,) = render((4, 15), idmss=sets).problems
    assert refusal.message == (
        'wildcard entries are not supported with mirror configuration "*.corp.example"'
    )


def test_the_mco_patterns() -> None:
    for good in ["quay.io", "quay.io:443/ns/repo", "localhost:5000/a__b/c.d-e", "Host.Example/x"]:
        assert valid_mirror(good) and valid_source(good), good
    for bad in ["", " quay.io", "quay.io/ns ", "quay.io/NS", "quay.io/ns/", "-q.io", "q.io/a@b"]:
        assert not valid_mirror(bad) and not valid_source(bad), bad
    assert valid_source("*.example.com") and not valid_mirror("*.example.com")
    assert not valid_source("*.example.com/ns") and not valid_source("*example.com")
    # Long non-matching input is rejected promptly (no backtracking blow-up).
    assert not valid_mirror("a/" + "a" * 5000 + "!")
    assert valid_scope("", (4, 10)) and not valid_scope("", (4, 11))


# --- the refused rendering ------------------------------------------------------------------


def test_a_refusal_names_the_object_field_and_mco_words_and_keeps_the_object_rules() -> None:
    rendering = render(
        (4, 14),
        icsps=[
            icsp("release", ("quay.io/openshift-release-dev/ocp-release", ["m.example/ocp", ""]))
        ],
    )
    (refusal,) = rendering.problems
    assert refusal.text() == (
        "ImageContentSourcePolicy/release spec.repositoryDigestMirrors[0].mirrors[1]: "
        "invalid empty entry for mirror configuration"
    )
    assert refusal.to_json()["kind"] == "ImageContentSourcePolicy"
    # What the objects describe is still there for coverage (once the MCO accepts them).
    assert rendering.entry("quay.io/openshift-release-dev/ocp-release") is not None


# --- wildcard parent scopes (issue 2) -------------------------------------------------------


def test_a_wildcard_source_does_not_propagate_into_a_nested_scope() -> None:
    sets = [idms("corp", ("*.corp.example", ["mirror.example.net/corp"]))]
    config = image_config(insecure=["registry.corp.example"])
    rendering = render((4, 16), idmss=sets, config=config)
    (refusal,) = rendering.problems
    assert (refusal.origin, refusal.field) == (
        "ImageDigestMirrorSet/corp",
        "spec.imageDigestMirrors[0].source",
    )
    assert refusal.message == (
        "could not update registries config with new changes: internal error: "
        'mirrorsAdjustedForNestedScope for a wildcard scope "*.corp.example"'
    )
    assert "registry.corp.example lies inside the wildcard source" in refusal.detail
    nested = rendering.entry("registry.corp.example")
    assert nested is not None and nested.mirrors == ()  # never "mirror.example.net/corpexample"
    # The same for a tag mirror set, and for a blocked nested scope.
    tags = render(
        (4, 17),
        itmss=[itms("corp", ("*.corp.example", ["mirror.example.net/corp"]))],
        config=image_config(blocked=["registry.corp.example/team"]),
    )
    assert tags.problems[0].origin == "ImageTagMirrorSet/corp"
    # 4.13-4.15 refuse the wildcard source itself, before rendering.
    assert (
        render((4, 15), idmss=sets, config=config)
        .problems[0]
        .message.startswith("wildcard entries are not supported")
    )


def test_a_wildcard_source_without_nested_scopes_renders() -> None:
    sets = [idms("corp", ("*.corp.example", ["mirror.example.net/corp"]))]
    rendering = render((4, 16), idmss=sets, config=image_config(insecure=["other.example"]))
    assert rendering.problems == ()
    entry = rendering.entry("*.corp.example")
    assert entry is not None and entry.location == ""
    assert [m.location for m in entry.mirrors] == ["mirror.example.net/corp"]
