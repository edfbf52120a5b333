"""Validation as the API server and the MCO would do it: object, field and rule."""

from __future__ import annotations

from typing import Any, Optional

import pytest

from agent.checklist.mirror_sets import ICSP, IDMS, ITMS, NEVER_CONTACT_SOURCE
from agent.checklist.version import Version, parse_ocp_version
from agent.plan import render
from agent.plan.validate import scope_problem, validate
from tests.unit.plan.helpers import (
    M1,
    M2,
    NEW,
    OLD,
    SOURCE,
    image_config,
    mirror_set,
    plan_of,
    state,
)


def _found(
    *objects: dict[str, Any], version: tuple[int, int] = NEW, config: Any = None
) -> set[tuple[str, str, str, str]]:
    touched = {f"{o['kind']}/{o['metadata']['name']}" for o in objects} | {"Image/cluster"}
    problems = validate(state(*objects, config=config), version, touched)
    return {(p.object, p.field, p.rule, p.severity) for p in problems}


@pytest.mark.parametrize(
    ("source", "wanted"),
    [
        ("quay.io/team@sha256:" + "a" * 64, "has a digest"),
        ("quay.io/team/app:1.0", "has a tag"),
        ("", "an empty source"),
        (" quay.io/team", "surrounding spaces"),
        ("*.example.com/ns", "has a path"),
        ("quay.io/*/app", "not the leading"),
        ("quay.io/Team", "lowercase path"),
    ],
)
def test_bad_sources(source: str, wanted: str) -> None:
    assert wanted in (scope_problem(source, what="source", wildcard_ok=True) or "")
    found = _found(mirror_set(IDMS, "x", (source, [M1])))
    assert (
        "ImageDigestMirrorSet/x",
        "spec.imageDigestMirrors[0].source",
        "source-scope",
        "error",
    ) in found


@pytest.mark.parametrize("good", ["quay.io", "quay.io/team", "*.example.com", "localhost:5000/a/b"])
def test_good_sources(good: str) -> None:
    assert scope_problem(good, what="source", wildcard_ok=True) is None


def test_a_wildcard_mirror_is_refused() -> None:
    found = _found(mirror_set(ITMS, "x", (SOURCE, ["*.mirror.example"])))
    assert (
        "ImageTagMirrorSet/x",
        "spec.imageTagMirrors[0].mirrors[0]",
        "mirror-scope",
        "error",
    ) in found


def test_empty_and_duplicate_mirrors() -> None:
    found = _found(mirror_set(ICSP, "x", (SOURCE, []), ("quay.io/other", [M1, M1])))
    field = "spec.repositoryDigestMirrors"
    assert found == {
        # the API marks mirrors optional and runtime-utils drops the set: not a refusal
        ("ImageContentSourcePolicy/x", f"{field}[0].mirrors", "mirrors-empty", "warning"),
        ("ImageContentSourcePolicy/x", f"{field}[1].mirrors[1]", "duplicate-mirror", "error"),
    }


def test_duplicate_sources_and_contradicting_orders_are_warnings() -> None:
    # runtime-utils' topological sort breaks the cycle and renders: nothing is refused
    found = _found(
        mirror_set(IDMS, "a", (SOURCE, [M1, M2])), mirror_set(IDMS, "b", (SOURCE, [M2, M1]))
    )
    assert found == {
        (
            "ImageDigestMirrorSet/b",
            "spec.imageDigestMirrors[0].source",
            "duplicate-source",
            "warning",
        ),
        (
            "ImageDigestMirrorSet/b",
            "spec.imageDigestMirrors[0].mirrors",
            "mirror-order-conflict",
            "warning",
        ),
    }


def test_conflicting_mirror_source_policies() -> None:
    found = _found(
        mirror_set(IDMS, "a", (SOURCE, [M1]), policy=NEVER_CONTACT_SOURCE),
        mirror_set(ITMS, "b", (SOURCE, [M2])),
    )
    assert (
        "ImageTagMirrorSet/b",
        "spec.imageTagMirrors[0].mirrorSourcePolicy",
        "mirror-source-policy-conflict",
        "error",
    ) in found


def test_unknown_policy_and_never_contact_source_with_the_source_as_mirror() -> None:
    found = _found(
        mirror_set(IDMS, "a", (SOURCE, [M1]), policy="Sometimes"),
        mirror_set(
            IDMS, "b", ("quay.io/other", ["quay.io/other", M1]), policy=NEVER_CONTACT_SOURCE
        ),
    )
    rules = {(o, r) for o, _f, r, _s in found}
    assert ("ImageDigestMirrorSet/a", "mirror-source-policy") in rules
    assert ("ImageDigestMirrorSet/b", "never-contact-source-is-mirror") in rules


def test_idms_and_itms_are_not_served_before_413() -> None:
    found = _found(mirror_set(IDMS, "a", (SOURCE, [M1])), version=OLD)
    assert found == {("ImageDigestMirrorSet/a", "kind", "kind-not-served", "error")}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("4.13.4", "error"),  # before 4.13.27: refused, as the checklist says
        ("4.13.27", None),
        ("4.14.2", "error"),
        ("4.14.3", None),
        ("4.14", "warning"),  # z-stream unknown: possibly refused
        ("4.15", None),
    ],
)
def test_icsp_with_idms_as_the_mco_of_that_z_stream_renders_it(
    given: str, expected: Optional[str]
) -> None:
    objects = (
        mirror_set(ICSP, "old", (SOURCE, [M1])),
        mirror_set(IDMS, "new", ("quay.io/other", [M2])),
    )
    version = Version(parse_ocp_version(given), given, "--ocp-version")
    current = state(*objects)
    rendering = render(current, version.version, None, version.z_stream)
    touched = {"ImageContentSourcePolicy/old", "ImageDigestMirrorSet/new"}
    problems = validate(
        current, version.version, touched, rendering.problems, rendering.possible_problems
    )
    found = {
        (p.severity, p.message.split(":", 1)[1].split(" (")[0].strip())
        for p in problems
        if p.object == "ImageContentSourcePolicy/old" and p.rule == "icsp-with-idms"
    }
    if expected is None:
        assert found == set()
    else:
        assert found == {(expected, "both imagecontentsourcepolicy and imagedigestmirrorset exist")}


def test_wrong_api_version_and_bad_name() -> None:
    obj = mirror_set(IDMS, "Bad_Name", (SOURCE, [M1]))
    obj["apiVersion"] = "operator.openshift.io/v1alpha1"
    found = _found(obj)
    assert found == {
        ("ImageDigestMirrorSet/Bad_Name", "apiVersion", "api-version", "error"),
        ("ImageDigestMirrorSet/Bad_Name", "metadata.name", "name", "error"),
    }


def test_mirrors_blocked_or_not_allowed_by_image_config() -> None:
    blocked = _found(
        mirror_set(IDMS, "a", (SOURCE, [M1])),
        config=image_config(blockedRegistries=[M1.split("/")[0]]),
    )
    assert blocked == {
        (
            "ImageDigestMirrorSet/a",
            "spec.imageDigestMirrors[0].mirrors[0]",
            "mirror-blocked",
            "warning",
        )
    }
    # policy.json judges the image asked for, not the mirror: no problem of the objects
    allowed = _found(
        mirror_set(IDMS, "a", (SOURCE, [M1, M2])),
        config=image_config(allowedRegistries=[M1, "quay.io"]),
    )
    assert allowed == set()


def test_image_config_lists() -> None:
    found = _found(
        config=image_config(
            insecureRegistries=[""], blockedRegistries=["a.io"], allowedRegistries=["b.io"]
        )
    )
    assert found == {
        (
            "Image/cluster",
            "spec.registrySources.insecureRegistries[0]",
            "registry-sources-empty",
            "error",
        ),
        ("Image/cluster", "spec.registrySources", "blocked-and-allowed", "error"),
    }


def test_problems_of_objects_the_plan_does_not_change_are_warnings() -> None:
    untouched = mirror_set(IDMS, "old", ("quay.io/Team", [M1]))
    problems = validate(state(untouched), NEW, touched={"ImageDigestMirrorSet/new"})
    assert [(p.rule, p.severity) for p in problems] == [("source-scope", "warning")]
    assert problems[0].message.endswith("(already on the cluster; this plan does not change it)")


def test_a_cross_object_problem_stays_an_error_when_either_object_changes() -> None:
    old = mirror_set(IDMS, "a", (SOURCE, [M1]), policy=NEVER_CONTACT_SOURCE)
    new = mirror_set(IDMS, "b", (SOURCE, [M2]))
    problems = validate(state(old, new), NEW, touched={"ImageDigestMirrorSet/a"})
    assert ("mirror-source-policy-conflict", "error") in [(p.rule, p.severity) for p in problems]


def test_the_mcos_own_refusals_are_problems_in_its_words() -> None:
    plan = plan_of(NEW, state(), [image_config(insecureRegistries=["*.example.com/ns"])])
    (problem,) = plan.problems
    assert (problem.object, problem.field, problem.rule, problem.severity) == (
        "Image/cluster",
        "spec.registrySources.insecureRegistries[0]",
        "mco-refusal",
        "error",
    )
    assert problem.message.startswith("the MCO refuses to render: ")
    assert any("would refuse to render the proposed objects" in note for note in plan.notes)


def test_warnings_that_render_say_what_happens_instead_of_refusing() -> None:
    plan = plan_of(
        NEW,
        state(),
        [
            mirror_set(IDMS, "empty", ("quay.io/other", [])),
            mirror_set(IDMS, "a", (SOURCE, [M1])),
            image_config(blockedRegistries=[M1.split("/")[0]]),
        ],
    )
    assert not plan.invalid
    effects = {p.rule: p.effect for p in plan.problems}
    assert effects["mirrors-empty"] == "dropped by the MCO"
    assert effects["mirror-blocked"] == "renders, but pulls cannot work"


def test_values_of_the_wrong_type_are_called_what_they_are() -> None:
    found = validate(
        state(
            {
                **mirror_set(IDMS, "x", (SOURCE, [])),
                "spec": {"imageDigestMirrors": [{"source": 5, "mirrors": [M1, 7, None]}]},
            }
        ),
        NEW,
        {"ImageDigestMirrorSet/x"},
    )
    messages = {(p.field.rsplit(".", 1)[1], p.message) for p in found}
    assert messages == {
        ("source", "the source 5 is not a string"),
        ("mirrors[1]", "the mirror 7 is not a string"),
        ("mirrors[2]", "the mirror null is not a string"),
    }
