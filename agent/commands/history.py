"""``agent check --history``: which source served each pull CRI-O really made recently."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from agent import registries
from agent.commands.check import node_name
from agent.commands.journal import journal_result
from agent.errors import EnvironmentFailure
from agent.pull.log.crio_journal import parse_crio_journal
from agent.pull.runner import NodeRunner
from agent.registries import LoadedHost
from agent.report import worst
from agent.schema import HISTORY_SCHEMA_VERSION
from agent.vocabulary import Verdict


def summarise_history(loaded: LoadedHost, journal: str) -> list[dict[str, object]]:
    """One entry per pull in CRI-O's journal: the source that served it, judged."""
    entries: list[dict[str, object]] = []
    for pull in parse_crio_journal(journal):
        result = journal_result(loaded, pull)
        entries.append(
            {
                "time": pull.time,
                "image": result.image,  # the source a grep'd pull stands for, too
                "pulled": pull.pulled,
                "servedBy": result.served_by,
                "servedByKind": result.served_by_kind,
                "verdict": result.verdict,
                "attempts": [attempt.to_json() for attempt in result.attempts],
                "findings": [finding.to_json() for finding in result.findings],
            }
        )
    return entries


@dataclass(frozen=True)
class History:
    node: str
    entries: list[dict[str, object]]

    @property
    def verdict(self) -> Verdict:
        """The worst verdict of the pulls (each entry holds its ImageResult's verdict)."""
        return worst([cast(Verdict, entry["verdict"]) for entry in self.entries])

    def to_json(self) -> dict[str, Any]:
        return {"schemaVersion": HISTORY_SCHEMA_VERSION, "node": self.node, "history": self.entries}


def read_history(runner: NodeRunner, root: Path, since: str) -> History:
    """The node's pulls since ``since`` (a journalctl time), judged against its registries.conf."""
    result = runner.crio_journal(since)
    if result.exit_code != 0:
        raise EnvironmentFailure(
            f"cannot read CRI-O's journal: {result.stderr.strip() or result.exit_code}",
            hint="--history needs journalctl on the node (run inside oc debug node/X)",
        )
    entries = summarise_history(registries.load(root), result.stdout)
    return History(node_name(root), entries)
