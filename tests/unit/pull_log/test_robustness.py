"""The log reader on any input: never raises, keeps its invariants, stays pure and linear."""

from __future__ import annotations

import ast
import dataclasses
import random
from pathlib import Path

import pytest

from agent.pull.log.classify import classify_failure
from agent.pull.log.crio_journal import parse_crio_journal
from agent.pull.log.error_sources import parse_error_sources
from agent.pull.log.model import REASONS, JournalPull, PullLog
from agent.pull.log.podman import parse_pull_log
from agent.pull.log.redact import redact
from tests.unit.pull_log.recorded import fixture_names, parse_fixture, read_fixture


def check_invariants(result: PullLog) -> None:
    assert result.tool in ("podman", "skopeo", "crio", "unknown")
    assert result.rounds == len(result.earlier_rounds) + 1 >= 1
    for attempts in (result.attempts, *result.earlier_rounds):
        for attempt in attempts:
            assert attempt.outcome in ("failed", "served", "hung", "unfinished")
            if attempt.outcome == "failed":
                assert attempt.reason in REASONS and attempt.message is not None
            else:
                assert attempt.reason is None and attempt.message is None
    served = [a.location for a in result.attempts if a.outcome == "served"]
    assert result.served_by == (served[0] if served else None)
    assert len(served) <= 1
    if result.attempts:
        assert all(a.outcome == "failed" or a.outcome == "unfinished" for a in result.attempts[:-1])


FRAGMENTS = [
    'Trying to access "',
    'Accessing "',
    '" failed: ',
    'time="2024-01-01T00:00:00Z" ',
    "level=debug ",
    "level=fatal ",
    "DEBU[0000] ",
    "FATA[0001] ",
    "\x1b[37m",
    "\x1b[0m",
    'msg="',
    '\\"',
    "\\",
    "\\n",
    '"',
    "\n",
    "\r",
    "Error: ",
    "(Mirrors also failed: [",
    "]\n[",
    "]): ",
    ": ",
    "Failed, retrying in 1s ... (1/3). Error: ",
    "Pulling image: ",
    "Pulled image: ",
    "Checking image status: ",
    "Nov 25 10:00:00 node crio[1]: ",
    "Received shutdown signal",
    'Loading registries configuration "',
    "quay.io/a/b@sha256:abc",
    "h/r:v1",
    "{",
    '{"msg":',
    "}",
    "[" * 50,
    "\\U0010ffff\\UFFFFFFFF\\xff\\ud800\\777",
    "\x00",
    "é",
    "x509",
    "lookup ",
    "https://u:p@h",
    "Authorization: Bearer ",
    " ",
]


@pytest.mark.parametrize("name", fixture_names())
def test_truncated_fixtures_never_raise(name: str) -> None:
    text = read_fixture(name)
    cuts = set(range(0, len(text), max(1, len(text) // 97)))
    cuts.update(i for i, char in enumerate(text) if char == "\n")
    for cut in sorted(cuts):
        for part in (text[:cut], text[cut:]):
            for exit_code in (None, 0, 125):
                check_invariants(parse_pull_log(part, exit_code=exit_code))
            parse_crio_journal(part)


def test_garbage_never_raises() -> None:
    rng = random.Random(20261125)
    for _ in range(3000):
        text = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 40)))
        for exit_code, killed in ((None, False), (0, False), (125, True)):
            check_invariants(parse_pull_log(text, exit_code=exit_code, killed=killed))
        for pull in parse_crio_journal(text):
            assert isinstance(pull, JournalPull)
        assert classify_failure(text) in REASONS
        assert isinstance(redact(text), str)
        assert isinstance(parse_error_sources(text), tuple)
    raw = bytes(rng.randrange(256) for _ in range(20000)).decode("latin-1")
    check_invariants(parse_pull_log(raw, exit_code=None))
    deep_json = '{"msg": "Trying to access", "x": ' + "[" * 100000 + "]" * 100000 + "}"
    check_invariants(parse_pull_log(deep_json, exit_code=None))


def test_results_are_frozen_and_hashable() -> None:
    result = parse_fixture("all-fail.log")
    hash(result)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.rounds = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.attempts[0].outcome = "served"  # type: ignore[misc]


def test_a_large_log_still_yields_the_last_round() -> None:
    # Speed is measured by bench/log_parse.py, not asserted here.
    one_round = read_fixture("all-fail-source-unreachable.log")
    noise = read_fixture("mirror-401.log")
    text = noise * (5_000_000 // len(noise)) + one_round * (5_000_000 // len(one_round))
    assert len(text) > 9_000_000
    result = parse_pull_log(text, exit_code=125)
    assert result.attempts == parse_fixture("all-fail-source-unreachable.log").attempts
    check_invariants(parse_pull_log("Trying to access " * 600_000, exit_code=None))
    check_invariants(
        parse_pull_log(
            'level=info msg="Accessing \\"a/b\\" failed: ' + "]): a/b: " * 1_000_000, exit_code=1
        )
    )


LOG_PACKAGE = Path(__file__).resolve().parents[3] / "agent" / "pull" / "log"


@pytest.mark.parametrize("module", sorted(path.name for path in LOG_PACKAGE.glob("*.py")))
def test_log_modules_import_only_the_standard_library_and_each_other(module: str) -> None:
    stdlib: set[str] = set()
    for node in ast.walk(ast.parse((LOG_PACKAGE / module).read_text())):
        if isinstance(node, ast.Import):
            stdlib.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("agent."):
                # agent.reference is pure too (the one home of the digest grammar), and so
                # are the words a report shares with the log (an attempt's outcome)
                assert node.module.startswith("agent.pull.log.") or node.module in (
                    "agent.reference",
                    "agent.vocabulary",
                ), node.module
            else:
                stdlib.add(node.module.split(".")[0])
    allowed = {"__future__", "base64", "binascii", "collections", "dataclasses", "json", "re"}
    assert stdlib <= allowed | {"typing"}
