"""``agent plan``: what applying mirror-set files will do to every image, before it is done.

Pure: the current objects (from the API, or read back from a node's registries.conf) and
the files' objects in; the objects ``oc apply -f`` would leave, their validation, both
renderings as the MCO of the cluster's version writes them, and per image the sources a
pull tries before and after, out. Only :mod:`agent.plan.probe` and :mod:`agent.plan.cluster`
talk to the outside.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Optional, Union

from agent import reference
from agent.checklist.compare import compare
from agent.checklist.mirrors import Rendering, render_registries
from agent.checklist.version import Version
from agent.errors import UsageError
from agent.plan.apply import FileObject, apply_objects
from agent.plan.diff import plan_image, rule_changes
from agent.plan.model import ImageOrigin, ImagePlan, MirrorState, Plan, PlanMode, ProbeResult
from agent.plan.policy import pull_policy
from agent.plan.validate import validate
from agent.registries.model import Configuration

__all__ = ["PlanInput", "make_plan", "probe_targets", "render", "with_probes"]


def render(
    state: MirrorState,
    version: tuple[int, int],
    release_image: Optional[str],
    z_stream: Optional[int] = None,
) -> Rendering:
    return render_registries(
        state.icsps,
        state.idmss,
        state.itmss,
        version=version,
        image_config=state.image_config,
        flags_known=state.flags_known,
        release_image=release_image,
        z_stream=z_stream,
    )


@dataclass(frozen=True)
class PlanInput:
    current: MirrorState
    files: Sequence[FileObject]
    version: Version
    images: Sequence[tuple[str, ImageOrigin]] = ()  # (image as given, where from)
    deletes: Sequence[str] = ()
    mode: PlanMode = "cluster"
    release_image: Optional[str] = None  # ClusterVersion's desired image (blocked scopes)
    node_config: Optional[Configuration] = None  # registries-conf mode: the node's file
    notes: Sequence[str] = ()
    policy_unknown: Sequence[str] = ()  # blocked scopes policy.json may not reject
    report_sources: Mapping[str, str] = field(default_factory=dict)  # image -> node, ConfigMap


def _reference(given: str) -> Union[reference.ImageReference, str]:
    """The pull reference of ``given``, or why it cannot be planned."""
    try:
        short = reference.is_short_name(given)
        parsed = reference.parse_normalized(given).for_pull()
    except reference.ReferenceError as exc:
        return f"image {given!r}: {exc.message}"
    if short:
        return (
            f"image {given!r} is a short name: its registry depends on each node's search "
            "registries (a fully qualified host/repository@sha256:... can be planned)"
        )
    return parsed


def make_plan(given: PlanInput) -> Plan:
    """The plan; UsageError for an image that is not a reference or a bad --delete."""
    version = given.version.version
    notes = list(given.notes)
    refs = []
    for image, origin in given.images:
        ref = _reference(image)
        if isinstance(ref, reference.ImageReference):
            refs.append((image, ref, origin))
        elif origin == "reports":  # one node's odd check must not stop the plan
            where = given.report_sources.get(image, "a node's report")
            notes.append(f"{ref} (from the report of {where}): not planned")
        else:
            raise UsageError(
                f"{ref}: give the fully qualified reference (host/repository@sha256:...)"
            )
    applied = apply_objects(given.current, given.files, given.deletes)
    z_stream = given.version.z_stream
    before = render(given.current, version, given.release_image, z_stream)
    after = render(applied.state, version, given.release_image, z_stream)
    problems = (
        *applied.problems,
        *validate(applied.state, version, applied.touched, after.problems, after.possible_problems),
    )
    notes += applied.notes
    # Registries-conf mode: the node's own file is what pulls do today.
    before_config = given.node_config or before.config
    after_config = after.config
    policies = (
        pull_policy(
            given.current.image_config, before, version, given.release_image, given.policy_unknown
        ),
        pull_policy(
            applied.state.image_config, after, version, given.release_image, given.policy_unknown
        ),
    )
    if after.problems and not before.problems:
        notes.append(
            "the MCO would refuse to render the proposed objects, so the nodes would keep "
            "their current registries.conf: " + "; ".join(p.text() for p in after.problems)
        )
        after_config = before_config
        policies = (policies[0], policies[0])
    for note in (*before.notes, *after.notes):
        if note not in notes:
            notes.append(note)
    if given.node_config is not None:
        effective = given.node_config.canonical()["registries"]
        for difference in compare(before, effective):
            notes.append(
                "the node's file is not what the MCO renders from the mirror sets it stands "
                f"for, so applying any object changes this too: {difference.text()}"
            )
    images: list[ImagePlan] = []
    seen: set[str] = set()
    for image, ref, origin in refs:
        if str(ref) in seen:
            continue
        seen.add(str(ref))
        images.append(plan_image(image, ref, before_config, after_config, origin, policies))
    rules = rule_changes(before_config, after_config, images)
    unexercised = tuple(rule.prefix for rule in rules if not rule.images)
    if unexercised and any(image.origin == "reports" for image in images):
        notes.append(
            "--from-reports plans the images the nodes' reports checked (with agent check "
            "--auto: one per entry of each node's current registries.conf); reports do not "
            "list every image a node holds, so no image exercises "
            f"{', '.join(unexercised)}: give one for each with --image (a node's images: "
            "oc debug node/NODE -- chroot /host crictl images --digests)"
        )
    return Plan(
        version=version,
        version_text=given.version.text,
        version_from=given.version.source,
        mode=given.mode,
        actions=applied.actions,
        problems=problems,
        notes=tuple(notes),
        rules=rules,
        images=tuple(images),
        unexercised=unexercised,
    )


def probe_targets(plan: Plan) -> tuple[list[tuple[str, str, bool]], list[tuple[str, str]]]:
    """(image, mirror location, insecure) to probe: every mirror the proposal newly sends a
    pull of an image by digest to; and (image, why) of images that cannot be probed."""
    targets: list[tuple[str, str, bool]] = []
    skipped: list[tuple[str, str]] = []
    for image in plan.images:
        new = [
            hop
            for hop in image.after.hops
            if hop.kind == "mirror" and not hop.blocked and hop.location not in image.before.mirrors
        ]
        if not new:
            continue
        if "@" not in image.reference:
            skipped.append((image.image, "by tag: a probe asks a mirror for a digest"))
            continue
        targets += [(image.image, hop.location, hop.insecure) for hop in new]
    return targets, skipped


def with_probes(
    plan: Plan, probes: Sequence[ProbeResult], not_probed: Sequence[tuple[str, str]]
) -> Plan:
    return replace(plan, probes=tuple(probes), not_probed=tuple(not_probed))
