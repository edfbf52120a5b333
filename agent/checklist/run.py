"""The two checklists, start to end: read, (pre-upgrade only) request the release check and
wait for the nodes, then evaluate every item. The cluster, the clock and the sleep are
passed in (:class:`~agent.checklist.fetch.KubeCluster` in real use)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Optional, Protocol, Union

from agent.checklist.compare import coverage
from agent.checklist.items import POST_UPGRADE, PRE_UPGRADE, evaluate
from agent.checklist.items.facts import PostUpgradeFacts, PreUpgradeFacts
from agent.checklist.items.release_resolves_through_mirror import is_fresh, node_releases
from agent.checklist.mirrors import Rendering, render_registries
from agent.checklist.model import Change, Checklist, FetchedObject, Unavailable
from agent.checklist.snapshot import NodeReport, Reports, Snapshot, checklist_lines
from agent.checklist.target import Target, matches, parse_target, with_source
from agent.checklist.version import Version, cluster_version_of, version_text
from agent.checklist.wait import Progress, wait_for_reports
from agent.errors import UsageError
from agent.kube.contract import CHECKLIST_FIELD_MANAGER, CHECKLIST_KEY, CHECKS_CONFIGMAP
from agent.report import timestamp


class Cluster(Protocol):
    server: str
    namespace: str

    def read(self, *, pre: bool) -> Snapshot: ...

    def fetch_reports(self, nodes: Optional[Collection[str]]) -> Union[Reports, Unavailable]: ...

    def apply_checklist(
        self, text: Optional[str], *, exists: bool = True
    ) -> Union[str, Unavailable]: ...

    def read_checks(self) -> FetchedObject: ...


@dataclass(frozen=True)
class PreUpgradeOptions:
    to_image: str
    payload_repository: Optional[str] = None
    ocp_version: Optional[str] = None
    wait: float = 600.0  # seconds to wait for fresh reports
    poll: float = 15.0
    max_age: float = 6 * 3600.0  # reports usable when the check cannot be requested


@dataclass(frozen=True)
class PostUpgradeOptions:
    to_image: Optional[str] = None
    ocp_version: Optional[str] = None


def _stamp(moment: datetime) -> str:
    return timestamp(moment)


def _version(snapshot: Snapshot, override: Optional[str], *, post: bool) -> Version:
    try:
        return cluster_version_of(snapshot.cluster_version, override, post=post)
    except ValueError as exc:
        raise UsageError(f"--ocp-version: {exc}") from None


def _cluster_json(snapshot: Snapshot, version: Version) -> dict[str, object]:
    current = None
    if isinstance(snapshot.cluster_version, dict):
        desired = (snapshot.cluster_version.get("status") or {}).get("desired") or {}
        current = desired.get("image")
    return {
        "server": snapshot.server,
        "namespace": snapshot.namespace,
        "reportsNamespace": snapshot.reports_namespace,
        "desiredImage": current,
        **version.to_json(),
    }


def render_for(snapshot: Snapshot, version: Version) -> Optional[Rendering]:
    lists = (snapshot.icsps, snapshot.idmss, snapshot.itmss)
    if any(isinstance(part, Unavailable) for part in lists):
        return None
    image_config = snapshot.image_config if isinstance(snapshot.image_config, dict) else None
    release = None
    if isinstance(snapshot.cluster_version, dict):
        status = snapshot.cluster_version.get("status") or {}
        release = (status.get("desired") or {}).get("image")
    return render_registries(
        snapshot.icsps if isinstance(snapshot.icsps, list) else [],
        snapshot.idmss if isinstance(snapshot.idmss, list) else [],
        snapshot.itmss if isinstance(snapshot.itmss, list) else [],
        version=version.version,
        image_config=image_config,
        flags_known=not isinstance(snapshot.image_config, Unavailable),
        release_image=release if isinstance(release, str) else None,
        z_stream=version.z_stream,
    )


def checklist_line(target: Target, requested: str) -> str:
    """The checks-file line: the release by digest, fetched as a manifest only; the time
    makes the line new, so every agent re-checks now (a changed checks file triggers it).

    The line names the source the release stands for, never a mirror reference as given:
    a node pulls a mirror reference from that mirror directly (no registries.conf entry
    matches it), so its report would say "served by the source" on every node."""
    return f"{target.source_reference}  # method=manifest requested={requested}"


def pre_upgrade(
    cluster: Cluster,
    options: PreUpgradeOptions,
    *,
    now: Callable[[], datetime],
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    progress: Optional[Progress] = None,
    agent_version: str = "",
) -> Checklist:
    target = parse_target(options.to_image, options.payload_repository)  # before any request
    started = now()
    snapshot = cluster.read(pre=True)
    version = _version(snapshot, options.ocp_version, post=False)
    rendering = render_for(snapshot, version)
    if rendering is not None:
        target = with_source(target, rendering.config)

    # Item 1's one write: ask every agent to check the release now.
    ns = cluster.namespace
    kept = [
        line
        for line in checklist_lines(snapshot.checks)
        if not matches(target, line.split("#", 1)[0].strip(), None)
    ]
    lines = (*kept, checklist_line(target, _stamp(started)))
    since: Optional[str] = None
    write_problem: Optional[Unavailable] = None
    changes: tuple[Change, ...] = ()
    # --wait 0 looks once: a check requested now could not be answered, so nothing is
    # written and the reports of the last --max-age count, as without the patch right
    if options.wait > 0:
        written = cluster.apply_checklist(
            "\n".join(lines) + "\n", exists=snapshot.checks is not None
        )
        if isinstance(written, Unavailable):
            write_problem = written
        else:
            since = written or _stamp(started)
        changes = (
            Change(
                "applied",
                ns,
                CHECKS_CONFIGMAP,
                CHECKLIST_KEY,
                CHECKLIST_FIELD_MANAGER,
                lines,
                error=write_problem.text() if write_problem else None,
            ),
        )

    # Wait until every expected node has checked it (or --wait passes). Without a request,
    # checks of the release within --max-age count.
    cutoff = started - timedelta(seconds=options.max_age) if since is None else None
    wait_note = None
    states = snapshot.node_states()
    if not isinstance(states, Unavailable) and not isinstance(snapshot.reports, Unavailable):
        by_name = {state.name: state for state in states}
        expected = [state.name for state in states if state.expected]

        def fresh(report: NodeReport) -> bool:
            return is_fresh(
                report, by_name.get(report.node), target, since=since, cutoff=cutoff, now=now()
            )

        installed = snapshot.daemonset is not None or bool(snapshot.reports.by_node)
        timeout = options.wait if since is not None and installed else 0.0
        result = wait_for_reports(
            cluster.fetch_reports,
            expected,
            fresh,
            timeout=timeout,
            poll=options.poll,
            clock=clock,
            sleep=sleep,
            progress=progress,
            initial=snapshot.reports,
        )
        snapshot.reports = result.reports
        if result.timed_out and timeout > 0:
            wait_note = (
                f"waited {result.seconds:.0f}s (--wait): {result.fresh} of {result.expected} "
                "expected nodes reported a check of the release"
            )

    release_coverage = (
        coverage(rendering.config, target.source_repository, target.digest) if rendering else None
    )
    facts = PreUpgradeFacts(
        snapshot=snapshot,
        target=target,
        version=version,
        rendering=rendering,
        release_coverage=release_coverage,
        releases=node_releases(snapshot, target, since=since, cutoff=cutoff, now=now()),
        since=since,
        wait_note=wait_note,
        write_problem=write_problem,
    )
    items = evaluate(PRE_UPGRADE, facts)
    notes = []
    if options.wait <= 0:
        notes.append(
            "--wait 0: the release check was not requested; reports of it from the last "
            "--max-age count"
        )
    if version.source == "unknown":
        notes.append(
            f"OpenShift version unknown; mirror rules rendered as current MCO releases do "
            f"({version_text(version.version)}): pass --ocp-version"
        )
    return Checklist(
        kind="pre-upgrade",
        generated_at=_stamp(now()),
        items=items,
        cluster=_cluster_json(snapshot, version),
        target={**target.to_json(), "requestedAt": since},
        changes=changes,
        notes=tuple(notes),
        agent_version=agent_version,
    )


def post_upgrade(
    cluster: Cluster,
    options: PostUpgradeOptions,
    *,
    now: Callable[[], datetime],
    agent_version: str = "",
) -> Checklist:
    target = parse_target(options.to_image) if options.to_image else None
    snapshot = cluster.read(pre=False)
    version = _version(snapshot, options.ocp_version, post=True)
    items = evaluate(POST_UPGRADE, PostUpgradeFacts(snapshot, target, now=now()))
    return Checklist(
        kind="post-upgrade",
        generated_at=_stamp(now()),
        items=items,
        cluster=_cluster_json(snapshot, version),
        target=target.to_json() if target else None,
        agent_version=agent_version,
    )


def cleanup(cluster: Cluster) -> Optional[Change]:
    """Remove ``checklist.txt`` from the checks ConfigMap: the key only the checklist's field
    manager owns, so the administrator's keys stay. None when there is nothing to remove."""
    checks = cluster.read_checks()
    error = checks.text() if isinstance(checks, Unavailable) else None
    lines = tuple(checklist_lines(checks))
    if error is None and not lines:
        return None
    if error is None:
        written = cluster.apply_checklist(None)
        error = written.text() if isinstance(written, Unavailable) else None
    if error is None:
        # The apply removes only what our field manager still owns: after an `oc edit` or
        # a GitOps sync of the key, it stays. Look, rather than say it is gone.
        after = cluster.read_checks()
        if not isinstance(after, Unavailable) and checklist_lines(after):
            error = (
                f"{CHECKLIST_KEY} is still there: another field manager has written it since; "
                f"remove it with: oc patch configmap {CHECKS_CONFIGMAP} -n {cluster.namespace} "
                f'--type=json -p \'[{{"op":"remove","path":"/data/{CHECKLIST_KEY}"}}]\''
            )
    return Change(
        "removed",
        cluster.namespace,
        CHECKS_CONFIGMAP,
        CHECKLIST_KEY,
        CHECKLIST_FIELD_MANAGER,
        lines,
        error,
    )
