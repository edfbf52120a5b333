"""Commands the docs tell people to run, checked for what they must carry."""

from __future__ import annotations

import re
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def _commands(page: Path) -> list[str]:
    """The shell commands of a page's code blocks, continuation lines joined."""
    text = page.read_text()
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        commands += [" ".join(c.split()) for c in block.replace("\\\n", " ").splitlines()]
    return [c for c in commands if c]


def test_node_side_skopeo_uses_the_kubelet_pull_secret() -> None:
    # CRI-O pulls with the global pull secret; skopeo on the node does not read it unless
    # told, so an authenticated mirror answers 401 and the check proves nothing.
    found = [
        (page.name, command)
        for page in sorted((PROJECT / "docs").glob("*.md"))
        for command in _commands(page)
        if "chroot /host skopeo" in command
    ]
    assert found
    for page, command in found:
        assert "--authfile /var/lib/kubelet/config.json" in command, (page, command)


def test_the_walk_through_plans_the_target_release_too() -> None:
    # The nodes' reports hold images of the current release; the new mirror must also be
    # asked for the release the update goes to.
    plans = [
        c
        for c in _commands(PROJECT / "docs" / "checklist.md")
        if c.startswith("agent plan") and "--from-reports" in c and "--probe" in c
    ]
    assert plans
    for command in plans:
        assert re.search(r"--image \S*ocp-release@", command), command


def test_the_upgrade_removes_the_old_reports_by_the_readers_selector() -> None:
    # Reports moved to <namespace>-reports: the documented cleanup of the old ones in
    # mirror-agent must select exactly what the readers call a report, and nothing else.
    from agent.kube.contract import REPORT_SELECTOR

    deletes = [
        c
        for c in _commands(PROJECT / "docs" / "deploying.md")
        if c.startswith("oc delete configmap -n mirror-agent ")
    ]
    assert deletes == [f"oc delete configmap -n mirror-agent -l {REPORT_SELECTOR}"]
