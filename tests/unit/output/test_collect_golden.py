"""``agent collect -o table`` and ``-o markdown`` for a 500-node cluster with three distinct
failure groups (and a warning group), against golden files in tests/data/golden/.

Regenerate them after a deliberate change with ``UPDATE_GOLDEN=1 pytest <this file>`` and
read the diff before committing it.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from agent.collect import Summary, summarise
from agent.kube.publish import report_configmap
from agent.output.collect import collect_markdown, collect_table
from agent.report import AttemptRecord, CheckReport, Finding, ImageResult

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden"
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
CHECKED = "2030-01-01T11:00:00Z"
DIGEST = "sha256:" + "5e" * 32
APP_DIGEST = "sha256:" + "a1" * 32
RELEASE = f"quay.io/openshift-release-dev/ocp-release@{DIGEST}"
APP = f"registry.example.com/team/app@{APP_DIGEST}"
MIRROR = "mirror.corp.example:8443/ocp4/openshift4"
BACKUP = "backup.corp.example/ocp4/openshift4"
APP_MIRROR = "mirror.corp.example:8443/team/app"

MASTERS = [f"master-{n}" for n in range(3)]
WORKERS = [f"worker-{n:03d}" for n in range(497)]
FALLBACK = WORKERS[100:125]  # warn: the first mirror's certificate is refused
NOT_MIRRORED = WORKERS[200:212]  # fail: the release is on no mirror
BAD_CONF = WORKERS[300:306]  # fail: registries.conf does not parse
SILENT = WORKERS[400:405]  # missing: no report


def node(name: str) -> dict[str, Any]:
    pool = "master" if name.startswith("master") else "worker"
    rendered = f"rendered-{pool}-7f3a"
    return {
        "metadata": {
            "name": name,
            "labels": {f"node-role.kubernetes.io/{pool}": ""},
            "annotations": {
                "machineconfiguration.openshift.io/currentConfig": rendered,
                "machineconfiguration.openshift.io/desiredConfig": rendered,
            },
        },
        "spec": {},
    }


def release(name: str) -> ImageResult:
    if name in FALLBACK:
        return ImageResult(
            image=RELEASE,
            verdict="warn",
            served_by=f"{BACKUP}@{DIGEST}",
            served_by_kind="mirror",
            attempts=(
                AttemptRecord(f"{MIRROR}@{DIGEST}", "failed", "mirror", "tls"),
                AttemptRecord(f"{BACKUP}@{DIGEST}", "served", "mirror"),
            ),
            findings=(
                Finding(
                    "fallback-to-later-mirror",
                    "warn",
                    f"served by mirror #2 {BACKUP}@{DIGEST} after earlier mirrors failed: "
                    f"{MIRROR}@{DIGEST} (tls)",
                ),
            ),
        )
    if name in NOT_MIRRORED:
        return ImageResult(
            image=RELEASE,
            verdict="fail",
            attempts=(
                AttemptRecord(f"{MIRROR}@{DIGEST}", "failed", "mirror", "manifest-unknown"),
                AttemptRecord(f"{BACKUP}@{DIGEST}", "failed", "mirror", "manifest-unknown"),
            ),
            findings=(
                Finding(
                    "not-served",
                    "fail",
                    f"no source served the image: {MIRROR}@{DIGEST} (manifest-unknown), "
                    f"{BACKUP}@{DIGEST} (manifest-unknown); the source is blocked",
                ),
            ),
        )
    return ImageResult(
        image=RELEASE,
        verdict="pass",
        served_by=f"{MIRROR}@{DIGEST}",
        served_by_kind="mirror",
        findings=(Finding("served-by-mirror", "info", "served by the first mirror"),),
    )


def app(name: str) -> ImageResult:
    return ImageResult(
        image=APP,
        verdict="pass",
        served_by=f"{APP_MIRROR}@{APP_DIGEST}",
        served_by_kind="mirror",
    )


def report(name: str) -> Optional[CheckReport]:
    if name in SILENT:
        return None
    pool = "master" if name.startswith("master") else "worker"
    extra = {"machineConfig": {"currentConfig": f"rendered-{pool}-7f3a"}}
    if name in BAD_CONF:
        failed = tuple(
            ImageResult(image=image, verdict="error", findings=()) for image in (RELEASE, APP)
        )
        return CheckReport(
            node=name,
            checked_at=CHECKED,
            verdict="fail",
            images=failed,
            findings=(
                Finding(
                    "registries-conf-invalid",
                    "fail",
                    "/etc/containers/registries.conf.d/99-team.conf line 7: expected "
                    "'=' after a key",
                ),
            ),
            extra=extra,
        )
    images = (release(name), app(name))
    verdicts = {image.verdict for image in images}
    return CheckReport(
        node=name,
        checked_at=CHECKED,
        verdict="fail" if "fail" in verdicts else "warn" if "warn" in verdicts else "pass",
        images=images,
        fingerprint="sha256:" + "f1" * 32,
        extra=extra,
    )


def cluster() -> Summary:
    names = [*MASTERS, *WORKERS]
    reports = [r for r in map(report, names) if r is not None]
    configmaps = [report_configmap(r, namespace="mirror-agent", node=None) for r in reports]
    return summarise(configmaps, [node(n) for n in names], daemonset=None, now=NOW, max_age=None)


def golden(name: str, text: str) -> str:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return path.read_text()


def test_the_table_of_500_nodes_fits_a_terminal() -> None:
    summary = cluster()
    assert summary.counts["expected"] == 500
    text = collect_table(summary)
    assert text == golden("collect-500-nodes.table.txt", text)
    assert len(text.splitlines()) < 40
    # every group is one row with its count
    for count, state in ((452, "PASS"), (25, "WARN"), (12, "FAIL"), (6, "FAIL"), (5, "MISSING")):
        assert any(line.split()[:2] == [str(count), state] for line in text.splitlines()), (
            count,
            state,
        )


def test_wide_lists_every_node() -> None:
    text = collect_table(cluster(), wide=True)
    for name in [*MASTERS, *WORKERS]:
        assert any(line.startswith(name + " ") for line in text.splitlines()), name


def test_the_markdown_carries_every_finding_and_the_nodes_it_affects() -> None:
    summary = cluster()
    text = collect_markdown(summary)
    assert text == golden("collect-500-nodes.md", text)
    assert (
        "| 500 | 495 | 452 | 25 | 18 | 0 | 5 | 0 | 0 | 0 |" in text
    )  # expected, reported, pass, warn, fail, error, missing, stale, orphaned, drift
    findings = {
        "registries-conf-invalid": BAD_CONF,
        "not-served": NOT_MIRRORED,
        "missing: no report": SILENT,
        "fallback-to-later-mirror": FALLBACK,
    }
    for code, nodes in findings.items():
        (line,) = [line for line in text.splitlines() if line.startswith("- **") and code in line]
        assert f", {len(nodes)} node(s) (" in line
        assert ", ".join(nodes[:10]) in line
    # Full digests, and per image who served it on how many nodes.
    assert (
        f"| {RELEASE} | 495 | 452 | 25 | 18 | {MIRROR} (mirror): 452; {BACKUP} (mirror): 25; "
        "nothing: 18 |"
    ) in text
    assert "…" not in text


def flaky_cluster() -> Summary:
    """500 nodes, 4 images; a flaky first mirror: each node fell back on its own subset
    of the images (16 combinations of the same 4 findings)."""
    configmaps = []
    for number in range(500):
        results = []
        for index in range(4):
            digest = f"sha256:{index}a" + f"{index}a" * 31
            image = f"quay.io/team/app{index}@{digest}"
            first = f"mirror-a.corp.example/team/app{index}@{digest}"
            second = f"mirror-b.corp.example/team/app{index}@{digest}"
            if (number % 16) >> index & 1:
                results.append(
                    ImageResult(
                        image=image,
                        verdict="warn",
                        served_by=second,
                        served_by_kind="mirror",
                        attempts=(
                            AttemptRecord(first, "failed", "mirror", "timeout"),
                            AttemptRecord(second, "served", "mirror"),
                        ),
                        findings=(
                            Finding(
                                "fallback-to-later-mirror",
                                "warn",
                                f"served by mirror #2 {second} after earlier mirrors failed: "
                                f"{first} (timeout)",
                            ),
                        ),
                    )
                )
            else:
                results.append(
                    ImageResult(
                        image=image,
                        verdict="pass",
                        served_by=first,
                        served_by_kind="mirror",
                        attempts=(AttemptRecord(first, "served", "mirror"),),
                    )
                )
        verdict = "warn" if any(r.verdict == "warn" for r in results) else "pass"
        report = CheckReport(
            node=f"worker-{number:03d}",
            checked_at=CHECKED,
            verdict=verdict,
            images=tuple(results),
            fingerprint="sha256:" + "f1" * 32,
        )
        configmaps.append(report_configmap(report, namespace="mirror-agent", node=None))
    return summarise(configmaps, None, daemonset=None, now=NOW, max_age=None)


def test_a_flaky_first_mirror_still_fits_a_terminal() -> None:
    text = collect_table(flaky_cluster())
    assert text == golden("collect-500-nodes-flaky-mirror.table.txt", text)
    lines = text.splitlines()
    assert len(lines) < 40
    # Each fallback is written once, with its node count; group rows stay narrow (who
    # served what is the image table's).
    assert sum(1 for line in lines if "fallback-to-later-mirror" in line) == 4
    rows = lines[lines.index(next(x for x in lines if x.startswith("NODES"))) :]
    rows = rows[: rows.index("")]
    assert len(rows) == 17 and max(len(row) for row in rows) < 80
    assert "mirror-b.corp.example/team/app0 x250" in text


def test_the_table_caps_its_group_rows() -> None:
    from agent.output import collect as collect_output

    summary = flaky_cluster()
    capped = collect_output.GROUPS_SHOWN
    try:
        collect_output.GROUPS_SHOWN = 5
        text = collect_table(summary)
    finally:
        collect_output.GROUPS_SHOWN = capped
    assert "… 11 more group(s) of " in text and "node(s): -o wide lists every node" in text
