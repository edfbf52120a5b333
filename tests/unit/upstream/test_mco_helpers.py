"""The Machine Config Operator's own tests of its registries.conf helpers, ported to the
checklist's renderer (agent/checklist/mirrors.py) and its validation
(agent/checklist/mco_validation.py).

Upstream: openshift/machine-config-operator
``pkg/controller/container-runtime-config/helpers_test.go`` at
release-4.16 7327bb2359dd01f5b98c6bc3bd43ae134b080d02 (TestUpdateRegistriesConfig,
TestValidateRegistriesConfScopes, TestGetValidBlockAndAllowedRegistries, the refusals of
TestUpdatePolicyJSON), with the TestValidateRegistriesConfScopes tables of
release-4.15 1ffa8341fb18365b72398fc4eedffcbe4d423256 and
release-4.11 15d0b0288a4330b90ac89f14c781dfa7349af52c, whose wording differs.
The cases are written anew from reading them; what upstream checks by decoding the TOML it
wrote is checked here on the rendered entries.

Not ported (out of scope: the checklist renders registries.conf only): the policy.json
contents of TestUpdatePolicyJSON, ClusterImagePolicy, sigstore, CRI-O drop-ins, storage.conf.
"""

from __future__ import annotations

from typing import Any, Optional

import pytest

from agent.checklist.mco_validation import Refusal, indexed, policy_refusals, validate_scopes
from tests.unit.upstream.mirror_objects import (
    DIGEST_ONLY,
    RELEASE_IMAGE,
    TAG_ONLY,
    entries,
    entry,
    icsp,
    idms,
    itms,
    render,
)

V416 = (4, 16)

# The scopes and sets several upstream cases share.
INSECURE = ("insecure.com", "*.insecure-example.com", "*.insecure.blocked-example.com")
BLOCKED = ("blocked.com", "*.blocked.insecure-example.com", "*.blocked-example.com")
THREE_SETS = (
    ("insecure.com/ns-i1", ["blocked.com/ns-b1", "other.com/ns-o1"]),
    ("blocked.com/ns-b/ns2-b", ["other.com/ns-o2", "insecure.com/ns-i2"]),
    (
        "other.com/ns-o3",
        ["insecure.com/ns-i2", "blocked.com/ns-b/ns3-b", "foo.insecure-example.com/bar"],
    ),
)
THREE_SETS_RENDERED = {
    "blocked.com/ns-b/ns2-b": entry(
        blocked=True,
        mirrors=(
            ("other.com/ns-o2", DIGEST_ONLY, False),
            ("insecure.com/ns-i2", DIGEST_ONLY, True),
        ),
    ),
    "insecure.com/ns-i1": entry(
        insecure=True,
        mirrors=(
            ("blocked.com/ns-b1", DIGEST_ONLY, False),
            ("other.com/ns-o1", DIGEST_ONLY, False),
        ),
    ),
    "other.com/ns-o3": entry(
        mirrors=(
            ("insecure.com/ns-i2", DIGEST_ONLY, True),
            ("blocked.com/ns-b/ns3-b", DIGEST_ONLY, False),
            ("foo.insecure-example.com/bar", DIGEST_ONLY, True),
        )
    ),
    "blocked.com": entry(blocked=True),
    "*.blocked.insecure-example.com": entry(blocked=True, insecure=True),
    "*.blocked-example.com": entry(blocked=True),
    "insecure.com": entry(insecure=True),
    "*.insecure-example.com": entry(insecure=True),
    "*.insecure.blocked-example.com": entry(blocked=True, insecure=True),
}


# --- TestUpdateRegistriesConfig -------------------------------------------------------------


def test_nothing_configured_renders_nothing() -> None:
    rendering = render(V416)
    assert rendering.entries == () and rendering.problems == ()


def test_insecure_and_blocked_registries() -> None:
    rendering = render(
        V416,
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


def test_an_icsp_with_insecure_and_blocked_wildcard_scopes() -> None:
    rendering = render(V416, insecure=INSECURE, blocked=BLOCKED, icsps=(icsp(*THREE_SETS),))
    assert rendering.problems == ()
    assert entries(rendering) == THREE_SETS_RENDERED


def test_an_idms_with_insecure_and_blocked_wildcard_scopes() -> None:
    rendering = render(V416, insecure=INSECURE, blocked=BLOCKED, idmss=(idms(*THREE_SETS),))
    assert entries(rendering) == THREE_SETS_RENDERED


def test_an_itms_gives_tag_only_mirrors() -> None:
    rendering = render(
        V416,
        itmss=(
            itms(
                ("registry-a.com", ["mirror-tag-1.registry-a.com"]),
                ("registry-b.com", ["mirror-tag-1.registry-b.com"]),
            ),
        ),
    )
    assert entries(rendering) == {
        "registry-a.com": entry(mirrors=(("mirror-tag-1.registry-a.com", TAG_ONLY, False),)),
        "registry-b.com": entry(mirrors=(("mirror-tag-1.registry-b.com", TAG_ONLY, False),)),
    }


def sets_for(kind: str, *registries: str, extra: str = "") -> tuple[tuple[str, list[str]], ...]:
    found = []
    for registry in registries:
        mirrors = [f"mirror-{kind}-1.{registry}", f"mirror-{kind}-2.{registry}"]
        if extra:
            mirrors.append(f"mirror-{extra}-1.{registry}")
        found.append((registry, mirrors))
    return tuple(found)


def test_digest_mirrors_come_before_tag_mirrors_of_the_same_source() -> None:
    rendering = render(
        V416,
        idmss=(idms(*sets_for("digest", "registry-a.com", "registry-b.com")),),
        itmss=(itms(*sets_for("tag", "registry-a.com", "registry-b.com")),),
    )
    expected = {
        registry: entry(
            mirrors=(
                (f"mirror-digest-1.{registry}", DIGEST_ONLY, False),
                (f"mirror-digest-2.{registry}", DIGEST_ONLY, False),
                (f"mirror-tag-1.{registry}", TAG_ONLY, False),
                (f"mirror-tag-2.{registry}", TAG_ONLY, False),
            )
        )
        for registry in ("registry-a.com", "registry-b.com")
    }
    assert entries(rendering) == expected


def test_idms_itms_and_icsp_of_the_same_sources_merge() -> None:
    # The ICSP repeats the IDMS mirrors and adds one per source, and a source of its own.
    icsp_sets = [
        (source, [*mirrors, f"mirror-icsp-1.{source}"])
        for source, mirrors in sets_for("digest", "registry-a.com", "registry-b.com")
    ]
    icsp_sets.append(
        ("registry-c.com", ["mirror-icsp-1.registry-c.com", "mirror-icsp-2.registry-c.com"])
    )
    rendering = render(
        V416,
        idmss=(idms(*sets_for("digest", "registry-a.com", "registry-b.com")),),
        itmss=(itms(*sets_for("tag", "registry-a.com", "registry-b.com")),),
        icsps=(icsp(*icsp_sets),),
    )
    expected = {
        registry: entry(
            mirrors=(
                (f"mirror-digest-1.{registry}", DIGEST_ONLY, False),
                (f"mirror-digest-2.{registry}", DIGEST_ONLY, False),
                (f"mirror-icsp-1.{registry}", DIGEST_ONLY, False),
                (f"mirror-tag-1.{registry}", TAG_ONLY, False),
                (f"mirror-tag-2.{registry}", TAG_ONLY, False),
            )
        )
        for registry in ("registry-a.com", "registry-b.com")
    }
    expected["registry-c.com"] = entry(
        mirrors=(
            ("mirror-icsp-1.registry-c.com", DIGEST_ONLY, False),
            ("mirror-icsp-2.registry-c.com", DIGEST_ONLY, False),
        )
    )
    assert rendering.problems == ()
    assert entries(rendering) == expected


# --- TestValidateRegistriesConfScopes -------------------------------------------------------

IDMS_THREE = idms(*THREE_SETS)
ONLY_ONE = (
    "invalid images config: only one of AllowedRegistries or BlockedRegistries may be specified"
)


def case(
    expected: Optional[str],
    *,
    insecure: tuple[str, ...] = (),
    blocked: tuple[str, ...] = (),
    allowed: tuple[str, ...] = (),
    icsps: tuple[dict[str, Any], ...] = (),
    idmss: tuple[dict[str, Any], ...] = (),
) -> Any:
    return pytest.param(expected, insecure, blocked, allowed, icsps, idmss)


SCOPES_416 = [
    case(
        'invalid entry for insecure registries ""',
        insecure=("",),
        blocked=("*.block.com",),
        allowed=("*.allowed.com",),
    ),
    case(
        'invalid entry for insecure registries ""',
        insecure=("",),
        blocked=("*.block.com",),
        allowed=("*.allowed.com",),
        idmss=(IDMS_THREE,),
    ),
    case(
        'invalid entry for blocked registries ""',
        insecure=("*.insecure.com",),
        blocked=("",),
        allowed=("*.allowed.com",),
        idmss=(IDMS_THREE,),
    ),
    case(
        'invalid entry for allowed registries ""',
        insecure=("*.insecure.com",),
        blocked=("*.block.com",),
        allowed=("",),
        idmss=(IDMS_THREE,),
    ),
    case(
        'invalid format for source ""',
        insecure=("*.insecure.com",),
        blocked=("*.block.com",),
        allowed=("*.allowed.com",),
        idmss=(idms(("", ["blocked.com/ns-b1", "other.com/ns-o1"])),),
    ),
    case(
        'invalid format for mirror ""',
        insecure=("*.insecure.com",),
        blocked=("*.block.com",),
        allowed=("*.allowed.com",),
        idmss=(idms(("insecure.com/ns-i1", ["", "other.com/ns-o1"])),),
    ),
    case(
        'invalid format for source "*.insecure.com/ns-i1"',
        icsps=(icsp(("*.insecure.com/ns-i1", ["", "other.com/ns-o1"])),),
    ),
    case(
        'invalid format for mirror "*.other.com/ns-o1"',
        icsps=(icsp(("*.insecure.com", ["*.other.com/ns-o1"])),),
    ),
    case(
        'invalid format for source "insecure.com/ns-i1 "',
        icsps=(icsp(("insecure.com/ns-i1 ", ["", "other.com/ns-o1"])),),
    ),
    case(
        'invalid format for mirror "other.com/ns-o1  "',
        icsps=(icsp(("insecure.com/ns-i1", ["other.com/ns-o1  "])),),
    ),
    case(
        None,
        insecure=("*.insecure.com",),
        blocked=("*.block.com",),
        allowed=("*.allowed.com",),
        idmss=(
            idms(
                ("*.insecure.com", ["other.com/ns-o1"]),
                ("insecure.com/ns-i1", ["other.com/ns-o1"]),
            ),
        ),
    ),
    # The IDMS is checked first: its NeverContactSource is the policy the ICSP then
    # conflicts with, before the ICSP's malformed mirror is reached.
    case(
        'conflicting mirrorSourcePolicy is set for the same source "insecure.com/ns-i1" in '
        "imagedigestmirrorsets, imagetagmirrorsets, or imagecontentsourcepolicies",
        icsps=(icsp(("insecure.com/ns-i1", ["other.com/ns-o1  "])),),
        idmss=(idms(*THREE_SETS, policies={"insecure.com/ns-i1": "NeverContactSource"}),),
    ),
]

SCOPES_415 = [
    *SCOPES_416[:4],
    case(
        "invalid empty entry for source configuration",
        insecure=("*.insecure.com",),
        blocked=("*.block.com",),
        allowed=("*.allowed.com",),
        idmss=(idms(("", ["blocked.com/ns-b1", "other.com/ns-o1"])),),
    ),
    case(
        "invalid empty entry for mirror configuration",
        insecure=("*.insecure.com",),
        blocked=("*.block.com",),
        allowed=("*.allowed.com",),
        idmss=(idms(("insecure.com/ns-i1", ["", "other.com/ns-o1"])),),
    ),
    case(
        None,
        insecure=("*.insecure.com",),
        blocked=("*.block.com",),
        allowed=("*.allowed.com",),
        idmss=(idms(("insecure.com/ns-i1", ["other.com/ns-o1"])),),
    ),
    SCOPES_416[-1],  # the surrounding spaces pass on 4.15: the policy conflict remains
]

ICSP_THREE = icsp(*THREE_SETS)
SCOPES_411 = [
    case(
        'invalid entry for insecure registries ""',
        insecure=("",),
        blocked=("*.block.com",),
        allowed=("*.allowed.com",),
        icsps=(ICSP_THREE,),
    ),
    case(
        'invalid entry for blocked registries ""',
        insecure=("*.insecure.com",),
        blocked=("",),
        allowed=("*.allowed.com",),
        icsps=(ICSP_THREE,),
    ),
    case(
        'invalid entry for allowed registries ""',
        insecure=("*.insecure.com",),
        blocked=("*.block.com",),
        allowed=("",),
        icsps=(ICSP_THREE,),
    ),
    case(
        "invalid empty entry for source configuration",
        insecure=("*.insecure.com",),
        blocked=("*.block.com",),
        allowed=("*.allowed.com",),
        icsps=(icsp(("", ["blocked.com/ns-b1", "other.com/ns-o1"])),),
    ),
    case(
        "invalid empty entry for mirror configuration",
        insecure=("*.insecure.com",),
        blocked=("*.block.com",),
        allowed=("*.allowed.com",),
        icsps=(icsp(("insecure.com/ns-i1", ["", "other.com/ns-o1"])),),
    ),
    case(
        None,
        insecure=("*.insecure.com",),
        blocked=("*.block.com",),
        allowed=("*.allowed.com",),
        icsps=(icsp(("insecure.com/ns-i1", ["other.com/ns-o1"])),),
    ),
]


def check_scopes(
    version: tuple[int, int],
    expected: Optional[str],
    insecure: tuple[str, ...],
    blocked: tuple[str, ...],
    allowed: tuple[str, ...],
    icsps: tuple[dict[str, Any], ...],
    idmss: tuple[dict[str, Any], ...],
) -> None:
    found: list[Refusal] = validate_scopes(
        version, indexed(insecure), indexed(blocked), indexed(allowed), icsps, idmss, ()
    )
    # The MCO stops at the first error: that is the one its test expects.
    assert (found[0].message if found else None) == expected
    # The renderer reports it too (with the others it finds).
    rendering = render(
        version, insecure=insecure, blocked=blocked, allowed=allowed, icsps=icsps, idmss=idmss
    )
    if expected is None:  # beside allowed and blocked set together, which policy.json refuses
        assert [r.message for r in rendering.problems] in (
            [],
            [ONLY_ONE],
        )
    else:
        assert expected in [r.message for r in rendering.problems]


@pytest.mark.parametrize(
    ("expected", "insecure", "blocked", "allowed", "icsps", "idmss"), SCOPES_416
)
def test_validate_scopes_4_16(
    expected: Optional[str],
    insecure: tuple[str, ...],
    blocked: tuple[str, ...],
    allowed: tuple[str, ...],
    icsps: tuple[dict[str, Any], ...],
    idmss: tuple[dict[str, Any], ...],
) -> None:
    check_scopes(V416, expected, insecure, blocked, allowed, icsps, idmss)


@pytest.mark.parametrize(
    ("expected", "insecure", "blocked", "allowed", "icsps", "idmss"), SCOPES_415
)
def test_validate_scopes_4_15(
    expected: Optional[str],
    insecure: tuple[str, ...],
    blocked: tuple[str, ...],
    allowed: tuple[str, ...],
    icsps: tuple[dict[str, Any], ...],
    idmss: tuple[dict[str, Any], ...],
) -> None:
    check_scopes((4, 15), expected, insecure, blocked, allowed, icsps, idmss)


@pytest.mark.parametrize(
    ("expected", "insecure", "blocked", "allowed", "icsps", "idmss"), SCOPES_411
)
def test_validate_scopes_4_11(
    expected: Optional[str],
    insecure: tuple[str, ...],
    blocked: tuple[str, ...],
    allowed: tuple[str, ...],
    icsps: tuple[dict[str, Any], ...],
    idmss: tuple[dict[str, Any], ...],
) -> None:
    check_scopes((4, 11), expected, insecure, blocked, allowed, icsps, idmss)


# --- TestGetValidBlockAndAllowedRegistries (through the rendered blocked entries) -----------

PAYLOAD_REG = "payload-reg.io/release-image@sha256:" + "42" * 32
QUAY_PAYLOAD = "quay.io/openshift-release-dev@sha256:" + "42" * 32


@pytest.mark.parametrize(
    ("release", "blocked", "sets", "kept", "payload_refused"),
    [
        pytest.param(
            PAYLOAD_REG,
            ("block.io", "block-2.io"),
            (),
            ("block.io", "block-2.io"),
            False,
            id="plain",
        ),
        pytest.param(
            PAYLOAD_REG,
            ("block.io", "block-2.io"),
            (("src.io/payload", ["mirror-1.io/payload", "mirror-2.io/payload"]),),
            ("block.io", "block-2.io"),
            False,
            id="unrelated mirrors",
        ),
        pytest.param(
            PAYLOAD_REG,
            ("block.io", "payload-reg.io", "block-2.io"),
            (("src.io/payload", ["mirror-1.io/payload", "mirror-2.io/payload"]),),
            ("block.io", "block-2.io"),
            True,
            id="payload registry blocked without a mirror",
        ),
        pytest.param(
            PAYLOAD_REG,
            ("block.io", "payload-reg.io", "block-2.io"),
            (("payload-reg.io/release-image", ["mirror-1.io/payload", "mirror-2.io/payload"]),),
            ("block.io", "payload-reg.io", "block-2.io"),
            False,
            id="payload registry blocked with a mirror",
        ),
        pytest.param(
            QUAY_PAYLOAD,
            ("quay.io", "block.io/openshift-release-dev"),
            (("quay.io", ["block.io"]),),
            ("block.io/openshift-release-dev",),
            True,
            id="the payload's mirror is blocked",
        ),
        pytest.param(
            QUAY_PAYLOAD,
            ("quay.io", "block.io"),
            (("quay.io/openshift-release-dev", ["block.io/openshift-release-dev"]),),
            ("block.io",),
            True,
            id="the parent of the payload's mirror is blocked",
        ),
    ],
)
def test_blocked_registries_spare_the_payload(
    release: str,
    blocked: tuple[str, ...],
    sets: tuple[tuple[str, list[str]], ...],
    kept: tuple[str, ...],
    payload_refused: bool,
) -> None:
    rendering = render(
        V416, blocked=blocked, idmss=(idms(*sets),) if sets else (), release_image=release
    )
    rendered_blocked = {scope for scope, found in entries(rendering).items() if found["blocked"]}
    assert {scope for scope in blocked if scope in rendered_blocked} == set(kept)
    assert (
        any("would block the release payload" in note for note in rendering.notes)
        is payload_refused
    )
    assert rendering.problems == ()  # the MCO logs it and goes on without the scope


# --- TestUpdatePolicyJSON: what it refuses --------------------------------------------------

PAYLOAD_REPO = "release-reg.io/image/release"


@pytest.mark.parametrize(
    ("blocked", "allowed", "refused"),
    [
        ((), ("allow.io", "*.allowed-example.com"), False),
        (("block.com", "*.blocked-example.com"), (), False),
        (("block.com",), (PAYLOAD_REPO,), False),  # only the payload is allowed
        (("block.com", "release-reg.io"), (PAYLOAD_REPO,), False),
        (("block.com", "another-block.io"), ("allow.io",), True),
    ],
)
def test_policy_json_refuses_allowed_beside_blocked(
    blocked: tuple[str, ...], allowed: tuple[str, ...], refused: bool
) -> None:
    found = policy_refusals(V416, indexed(blocked), indexed(allowed), PAYLOAD_REPO)
    assert [r.message for r in found] == ([ONLY_ONE] if refused else [])


def test_the_release_used_here_parses() -> None:
    # The payload repository the policy cases use is the one the renderer derives.
    rendering = render(V416, blocked=("release-reg.io",), release_image=RELEASE_IMAGE)
    assert any(PAYLOAD_REPO in note for note in rendering.notes)
