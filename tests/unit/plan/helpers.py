"""Objects and plans for the plan's unit tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

from agent.checklist.mirror_sets import ICSP, IDMS, ITMS
from agent.checklist.version import Version
from agent.plan import PlanInput, make_plan
from agent.plan.apply import FileObject
from agent.plan.model import ChangeKind, ImagePlan, MirrorState, Plan

SOURCE = "quay.io/team"
M1 = "mirror-one.example:5000/team"
M2 = "mirror-two.example/team"
DIGEST = "sha256:" + "ab" * 32
BY_DIGEST = f"{SOURCE}/app@{DIGEST}"
BY_TAG = f"{SOURCE}/app:1.0"
OLD, NEW = (4, 12), (4, 14)  # ICSP: mirror-by-digest-only vs pull-from-mirror; no IDMS/ITMS
API = {
    ICSP: "operator.openshift.io/v1alpha1",
    IDMS: "config.openshift.io/v1",
    ITMS: "config.openshift.io/v1",
}
LISTS = {ICSP: "repositoryDigestMirrors", IDMS: "imageDigestMirrors", ITMS: "imageTagMirrors"}


def mirror_set(
    kind: str, name: str, *sets: tuple[str, Sequence[str]], policy: Optional[str] = None
) -> dict[str, Any]:
    items = []
    for source, mirrors in sets:
        item: dict[str, Any] = {"source": source, "mirrors": list(mirrors)}
        if policy:
            item["mirrorSourcePolicy"] = policy
        items.append(item)
    return {
        "apiVersion": API[kind],
        "kind": kind,
        "metadata": {"name": name},
        "spec": {LISTS[kind]: items},
    }


def image_config(**registry_sources: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "config.openshift.io/v1",
        "kind": "Image",
        "metadata": {"name": "cluster"},
        "spec": {"registrySources": registry_sources},
    }


def state(*objects: dict[str, Any], config: Optional[dict[str, Any]] = None) -> MirrorState:
    def of(kind: str) -> tuple[dict[str, Any], ...]:
        return tuple(o for o in objects if o["kind"] == kind)

    return MirrorState(of(ICSP), of(IDMS), of(ITMS), config)


def plan_of(
    version: tuple[int, int],
    current: MirrorState,
    files: Sequence[dict[str, Any]],
    images: Sequence[str] = (BY_DIGEST, BY_TAG),
    deletes: Sequence[str] = (),
) -> Plan:
    return make_plan(
        PlanInput(
            current,
            [FileObject(obj, f"file.yaml (document {n})") for n, obj in enumerate(files, 1)],
            Version(version, f"{version[0]}.{version[1]}", "--ocp-version"),
            [(image, "given") for image in images],
            deletes=deletes,
        )
    )


def image(plan: Plan, given: str) -> ImagePlan:
    return next(i for i in plan.images if i.image == given)


def kinds(plan: Plan, given: str) -> list[ChangeKind]:
    return [change.kind for change in image(plan, given).changes]


def locations(plan: Plan, given: str, side: str) -> list[str]:
    route = getattr(image(plan, given), side)
    return [hop.location for hop in route.hops]
