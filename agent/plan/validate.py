"""The mirror objects checked as the API server and the Machine Config Operator would
check them, before anything is applied (pure).

Errors are what the API server refuses (schema: patterns, enums, list types, kinds the
cluster's version does not serve) or what makes the MCO refuse to render registries.conf
(conflicting ``mirrorSourcePolicy``...): only these exit 2. Warnings are accepted by both
but rarely meant, each with its effect: a set without mirrors is dropped by the MCO
(runtime-utils skips it), opposite mirror orders render with the cycle broken, a mirror
inside a blocked scope renders but pulls from it cannot work, a source in several objects
has its orders merged. ``allowedRegistries`` is not judged on mirrors: policy.json is
checked against the image asked for (:mod:`agent.plan.policy`). A problem in an object
the plan does not change is downgraded to a warning: it is already on the cluster.

The MCO's own refusals (:mod:`agent.checklist.mco_validation`, which the checklist's
renderer reports as the rendering's problems) are added as rule ``mco-refusal`` in the
controller's words, unless a problem of the same object and field already says it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Optional

from agent.checklist.mco_validation import Refusal
from agent.checklist.mirror_sets import (
    ALLOW_CONTACTING_SOURCE,
    ICSP,
    IDMS,
    ITMS,
    NEVER_CONTACT_SOURCE,
    scope_nested,
)
from agent.checklist.version import version_text
from agent.plan.model import IMAGE_CONFIG_KIND, IMAGE_CONFIG_NAME, MirrorState, Problem, name_of

API_VERSIONS = {
    ICSP: "operator.openshift.io/v1alpha1",
    IDMS: "config.openshift.io/v1",
    ITMS: "config.openshift.io/v1",
    IMAGE_CONFIG_KIND: "config.openshift.io/v1",
}
SPEC_KEYS = {ICSP: "repositoryDigestMirrors", IDMS: "imageDigestMirrors", ITMS: "imageTagMirrors"}

DROPPED = "dropped by the MCO"
PULLS_FAIL = "renders, but pulls cannot work"

_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = rf"{_LABEL}(?:\.{_LABEL})*(?::[0-9]+)?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REPOSITORY_SCOPE = re.compile(rf"^{_DOMAIN}(?:/{_COMPONENT})*$")
WILDCARD_SCOPE = re.compile(rf"^\*(?:\.{_LABEL})+$")
_DNS_SUBDOMAIN = re.compile(
    r"^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$"
)


@dataclass(frozen=True)
class _Set:
    """One item of a mirror list, with where it sits."""

    kind: str
    object: str
    field: str  # spec.<list>[i]
    source: str
    mirrors: tuple[str, ...]  # "" for a mirror that is not a string
    policy: str
    given_source: Any = None  # as in the file (None: absent), for the schema's messages
    given_mirrors: Optional[tuple[Any, ...]] = ()  # as in the file; None: not a list


def scope_problem(text: Any, *, what: str, wildcard_ok: bool) -> Optional[str]:
    """Why ``text`` is not a valid source/mirror scope, or None."""
    if not isinstance(text, str):
        shown = "null" if text is None else repr(text)
        return f"the {what} {shown} is not a string"
    if not text:
        return f"an empty {what}"
    if text != text.strip():
        return f"the {what} {text!r} has surrounding spaces"
    if "@" in text:
        return f"the {what} {text!r} has a digest: name a repository, not an image"
    if "/" in text and ":" in text.rsplit("/", 1)[1]:
        return f"the {what} {text!r} has a tag: name a repository, not an image"
    if text.startswith("*"):
        if not wildcard_ok:
            return f"the {what} {text!r} is a wildcard: only sources may be (*.example.com)"
        if "/" in text:
            return f"the wildcard {what} {text!r} has a path: a wildcard names hosts only"
        if not WILDCARD_SCOPE.match(text):
            return f"the wildcard {what} {text!r} is not *.domain"
        return None
    if "*" in text:
        return f"the {what} {text!r} has a '*' that is not the leading '*.' of a host"
    if not REPOSITORY_SCOPE.match(text):
        return (
            f"the {what} {text!r} is not host[:port][/path] with a lowercase path "
            "(the API server's pattern)"
        )
    return None


def _sets(state: MirrorState, kind: str, problems: list[Problem]) -> list[_Set]:
    found = []
    for obj in state.objects(kind):
        label = f"{kind}/{name_of(obj)}"
        spec = obj.get("spec")
        if spec is not None and not isinstance(spec, Mapping):
            problems.append(Problem(label, "spec", "schema", "must be an object"))
            continue
        items = spec.get(SPEC_KEYS[kind]) if spec is not None else None
        if items is None:
            continue
        if not isinstance(items, list):
            problems.append(
                Problem(label, f"spec.{SPEC_KEYS[kind]}", "schema", "must be a list of sets")
            )
            continue
        for index, item in enumerate(items):
            field = f"spec.{SPEC_KEYS[kind]}[{index}]"
            if not isinstance(item, Mapping):
                problems.append(Problem(label, field, "schema", "must be an object"))
                continue
            given_mirrors = item.get("mirrors") or []
            mirrors = given_mirrors if isinstance(given_mirrors, list) else []
            if not isinstance(given_mirrors, list):
                problems.append(Problem(label, f"{field}.mirrors", "schema", "must be a list"))
            given_policy = item.get("mirrorSourcePolicy")
            if given_policy is not None and not isinstance(given_policy, str):
                problems.append(
                    Problem(label, f"{field}.mirrorSourcePolicy", "schema", "must be a string")
                )
            policy = item.get("mirrorSourcePolicy") if kind != ICSP else None
            found.append(
                _Set(
                    kind,
                    label,
                    field,
                    str(item["source"]) if isinstance(item.get("source"), str) else "",
                    tuple(m if isinstance(m, str) else "" for m in mirrors),
                    policy if isinstance(policy, str) else "",
                    item.get("source"),
                    tuple(mirrors) if isinstance(given_mirrors, list) else None,
                )
            )
            if "source" not in item:
                problems.append(
                    Problem(label, f"{field}.source", "source-required", "source is required")
                )
    return found


def _object_problems(state: MirrorState, version: tuple[int, int]) -> list[Problem]:
    problems = []
    for kind in (ICSP, IDMS, ITMS):
        for obj in state.objects(kind):
            name = name_of(obj)
            label = f"{kind}/{name}"
            if kind in (IDMS, ITMS) and version < (4, 13):
                problems.append(
                    Problem(
                        label,
                        "kind",
                        "kind-not-served",
                        f"OCP {version_text(version)} does not serve {kind} (from 4.13): the API "
                        "server refuses it; use an ImageContentSourcePolicy",
                    )
                )
            api_version = obj.get("apiVersion")
            if api_version is not None and api_version != API_VERSIONS[kind]:
                problems.append(
                    Problem(
                        label,
                        "apiVersion",
                        "api-version",
                        f"{api_version!r}: {kind} is served as {API_VERSIONS[kind]}",
                    )
                )
            if not _DNS_SUBDOMAIN.match(name) or len(name) > 253:
                problems.append(
                    Problem(
                        label,
                        "metadata.name",
                        "name",
                        f"{name!r} is not a DNS-1123 subdomain (lowercase, digits, '-', '.')",
                    )
                )
    return problems


def _set_problems(sets: Sequence[_Set]) -> list[Problem]:
    problems = []
    for one in sets:
        why = None
        if one.given_source is not None:  # absent: source-required says it
            why = scope_problem(one.given_source, what="source", wildcard_ok=True)
        if why:
            problems.append(Problem(one.object, f"{one.field}.source", "source-scope", why))
        if one.given_mirrors is None:  # not a list: the schema problem says it
            pass
        elif not one.mirrors:
            problems.append(
                Problem(
                    one.object,
                    f"{one.field}.mirrors",
                    "mirrors-empty",
                    f"no mirror for {one.source}: the set configures nothing",
                    "warning",
                    DROPPED,
                )
            )
        elif all(mirror == one.source for mirror in one.mirrors):
            problems.append(
                Problem(
                    one.object,
                    f"{one.field}.mirrors",
                    "mirror-is-source",
                    f"the only mirror is the source {one.source}: the MCO ignores the set",
                    "warning",
                    DROPPED,
                )
            )
        seen: set[str] = set()
        for index, given in enumerate(one.given_mirrors or ()):
            mirror = one.mirrors[index]
            field = f"{one.field}.mirrors[{index}]"
            why = scope_problem(given, what="mirror", wildcard_ok=False)
            if why:
                problems.append(Problem(one.object, field, "mirror-scope", why))
            if mirror and mirror in seen:
                problems.append(
                    Problem(
                        one.object,
                        field,
                        "duplicate-mirror",
                        f"{mirror} is listed twice (the API server refuses duplicates in a set)",
                    )
                )
            seen.add(mirror)
        if one.kind != ICSP and one.policy not in (
            "",
            NEVER_CONTACT_SOURCE,
            ALLOW_CONTACTING_SOURCE,
        ):
            problems.append(
                Problem(
                    one.object,
                    f"{one.field}.mirrorSourcePolicy",
                    "mirror-source-policy",
                    f"{one.policy!r} is not {NEVER_CONTACT_SOURCE} or {ALLOW_CONTACTING_SOURCE}",
                )
            )
        if one.policy == NEVER_CONTACT_SOURCE and one.source in one.mirrors:
            problems.append(
                Problem(
                    one.object,
                    f"{one.field}.mirrorSourcePolicy",
                    "never-contact-source-is-mirror",
                    f"NeverContactSource while the source {one.source} is one of the mirrors: "
                    "the MCO refuses to render",
                )
            )
    return problems


def _order_conflict(first: Sequence[str], second: Sequence[str]) -> Optional[tuple[str, str]]:
    where = {mirror: index for index, mirror in enumerate(second)}
    for i, a in enumerate(first):
        for b in first[i + 1 :]:
            if a in where and b in where and where[a] > where[b]:
                return a, b
    return None


def _cross_problems(
    sets: Sequence[_Set], version: tuple[int, int], also: dict[int, str]
) -> list[Problem]:
    """Problems between objects; ``also`` gets, per problem's position, the other object."""
    problems: list[Problem] = []
    by_source: dict[tuple[str, str], list[_Set]] = {}
    for one in sets:
        family = "tag" if one.kind == ITMS else "digest"
        by_source.setdefault((family, one.source), []).append(one)
    for (_family, source), group in sorted(by_source.items()):
        for later_index, later in enumerate(group):
            for earlier in group[:later_index]:
                if earlier.object == later.object:
                    problems.append(
                        Problem(
                            later.object,
                            f"{later.field}.source",
                            "duplicate-source",
                            f"{source} is also in {earlier.field} of the same object: the MCO "
                            "merges their mirror orders",
                            "warning",
                        )
                    )
                else:
                    also[len(problems)] = earlier.object
                    problems.append(
                        Problem(
                            later.object,
                            f"{later.field}.source",
                            "duplicate-source",
                            f"{source} is also a source of {earlier.object}: the MCO merges "
                            "their mirror orders (see the rules below)",
                            "warning",
                        )
                    )
                conflict = _order_conflict(earlier.mirrors, later.mirrors)
                if conflict:
                    also[len(problems)] = earlier.object
                    problems.append(
                        Problem(
                            later.object,
                            f"{later.field}.mirrors",
                            "mirror-order-conflict",
                            f"{conflict[1]} comes before {conflict[0]} here but after it in "
                            f"{earlier.object} {earlier.field}: the MCO breaks the cycle "
                            "alphabetically, which neither object asked for",
                            "warning",
                            "renders, in an order neither object asked for",
                        )
                    )
    if version >= (4, 13):
        policies: dict[str, _Set] = {}
        for one in sets:
            policy = one.policy or ALLOW_CONTACTING_SOURCE
            first = policies.setdefault(one.source, one)
            if (first.policy or ALLOW_CONTACTING_SOURCE) != policy:
                also[len(problems)] = first.object
                problems.append(
                    Problem(
                        one.object,
                        f"{one.field}.mirrorSourcePolicy",
                        "mirror-source-policy-conflict",
                        f"{policy} for {one.source}, but {first.policy or ALLOW_CONTACTING_SOURCE}"
                        f" in {first.object} {first.field}: the MCO refuses to render any "
                        "mirror rule (conflicting mirrorSourcePolicy)",
                    )
                )
    # ICSP beside IDMS/ITMS (refused by some 4.13/4.14 z-streams): the rendering's
    # refusal, certain or possible, as the checklist reports it (validate()).
    return problems


def _registry_sources(state: MirrorState) -> tuple[dict[str, list[str]], list[Problem]]:
    label = f"{IMAGE_CONFIG_KIND}/{IMAGE_CONFIG_NAME}"
    spec = (state.image_config or {}).get("spec") or {}
    sources = spec.get("registrySources") or {} if isinstance(spec, Mapping) else {}
    lists: dict[str, list[str]] = {}
    problems = []
    for key in ("insecureRegistries", "blockedRegistries", "allowedRegistries"):
        values = sources.get(key) if isinstance(sources, Mapping) else None
        if values is None:
            continue
        if not isinstance(values, list):
            problems.append(
                Problem(label, f"spec.registrySources.{key}", "schema", "must be a list")
            )
            continue
        lists[key] = [value for value in values if isinstance(value, str)]
        for index, value in enumerate(values):
            if not isinstance(value, str) or not value.strip():
                problems.append(
                    Problem(
                        label,
                        f"spec.registrySources.{key}[{index}]",
                        "registry-sources-empty",
                        "an empty registry: the MCO refuses to render registries.conf",
                    )
                )
    if lists.get("blockedRegistries") and lists.get("allowedRegistries"):
        problems.append(
            Problem(
                label,
                "spec.registrySources",
                "blocked-and-allowed",
                "blockedRegistries and allowedRegistries are both set: only one may be",
            )
        )
    return lists, problems


def _mirror_reachability(sets: Sequence[_Set], lists: Mapping[str, list[str]]) -> list[Problem]:
    problems = []
    blocked = [scope for scope in lists.get("blockedRegistries", []) if scope]
    for one in sets:
        for index, mirror in enumerate(one.mirrors):
            if not mirror or mirror == one.source:
                continue
            field = f"{one.field}.mirrors[{index}]"
            scope = next((s for s in blocked if scope_nested(mirror, s)), None)
            if scope is not None:
                problems.append(
                    Problem(
                        one.object,
                        field,
                        "mirror-blocked",
                        f"{mirror} is inside blockedRegistries scope {scope} of "
                        "image.config.openshift.io/cluster: every pull from it is refused",
                        "warning",
                        PULLS_FAIL,
                    )
                )
    return problems


def validate(
    state: MirrorState,
    version: tuple[int, int],
    touched: Collection[str] = (),
    refusals: Sequence[Refusal] = (),
    possible_refusals: Sequence[Refusal] = (),
) -> tuple[Problem, ...]:
    """Every problem of ``state`` for OCP ``version``; ``touched`` (Kind/name) are the
    objects the plan changes: problems elsewhere become warnings. ``refusals``: the MCO's,
    for the same objects (the rendering's problems); ``possible_refusals``: those of some
    z-streams of the version, its z-stream unknown (warnings)."""
    problems = _object_problems(state, version)
    sets: list[_Set] = []
    for kind in (ICSP, IDMS, ITMS):
        sets += _sets(state, kind, problems)
    # Before 4.13 the MCO renders ICSPs only (the other kinds are refused above).
    rendered = [one for one in sets if one.kind == ICSP] if version < (4, 13) else sets
    problems += _set_problems(sets)
    also: dict[int, str] = {}
    cross = _cross_problems(rendered, version, also)
    lists, image_problems = _registry_sources(state)
    image_config = f"{IMAGE_CONFIG_KIND}/{IMAGE_CONFIG_NAME}"
    reachability = _mirror_reachability(rendered, lists)
    involved = [
        *((p, {p.object}) for p in problems),
        *((p, {p.object, also.get(i, p.object)}) for i, p in enumerate(cross)),
        *((p, {p.object}) for p in image_problems),
        *((p, {p.object, image_config}) for p in reachability),
    ]
    said = {(p.object, p.field) for p, _ in involved if p.severity == "error"}
    for refusal in refusals:
        if (refusal.origin, refusal.field) in said:
            continue
        detail = f" ({refusal.detail})" if refusal.detail else ""
        message = f"the MCO refuses to render: {refusal.message}{detail}"
        problem = Problem(refusal.origin, refusal.field, refusal.code or "mco-refusal", message)
        involved.append((problem, {problem.object}))
    for refusal in possible_refusals:
        message = (
            f"possibly refused by the MCO (give --ocp-version 4.y.z): {refusal.message} "
            f"({refusal.detail})"
        )
        problem = Problem(
            refusal.origin, refusal.field, refusal.code or "mco-refusal", message, "warning"
        )
        involved.append((problem, {problem.object}))
    return tuple(_downgrade(involved, touched))


def _downgrade(
    problems: Iterable[tuple[Problem, set[str]]], touched: Collection[str]
) -> Iterable[Problem]:
    for problem, objects in problems:
        if problem.severity == "error" and not objects & set(touched):
            yield replace(
                problem,
                severity="warning",
                message=f"{problem.message} (already on the cluster; this plan does not change it)",
            )
        else:
            yield problem
