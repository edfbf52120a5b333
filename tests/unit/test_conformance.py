"""Every registries.conf conformance case, run through the public interface (agent explain)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.cli.app import main
from tests.support.data import CONFORMANCE_CASES, require

CASE_FILES = sorted(require(CONFORMANCE_CASES).glob("*.json"))
LEGACY_PODMAN = {"containers/image < 5.24.0 (podman 4.3 on Debian 12)": "4.3.1"}


def _load_cases() -> list[Any]:
    params = []
    for path in CASE_FILES:
        case = json.loads(path.read_text())
        params.append(pytest.param(case, case["expect"], None, id=path.stem))
        legacy = case.get("expect_legacy")
        if legacy:
            podman = LEGACY_PODMAN[legacy["applies_to"]]  # a new kind of case must be mapped
            params.append(pytest.param(case, legacy, podman, id=f"{path.stem}-legacy"))
    return params


def test_every_case_file_is_collected() -> None:
    assert len(CASE_FILES) >= 100, "the shared conformance cases were not found"


def _run_case(tmp_path: Path, case: dict[str, Any], podman: str | None, capsys: Any) -> Any:
    root = tmp_path / "root"
    root.mkdir()
    for relative, text in case["files"].items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    argv = ["explain", case["reference"], "--host-root", str(root), "--home", "/home/user"]
    override = case.get("env", {}).get("CONTAINERS_REGISTRIES_CONF")
    if override:
        argv += ["--registries-conf", str(root / override.lstrip("/"))]
    if podman:
        argv += ["--podman-version", podman]
    code = main([*argv, "-o", "json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


@pytest.mark.parametrize(("case", "expect", "podman"), _load_cases())
def test_conformance_case(
    tmp_path: Path, case: dict[str, Any], expect: dict[str, Any], podman: str | None, capsys: Any
) -> None:
    code, document, stderr = _run_case(tmp_path, case, podman, capsys)
    assert document["schemaVersion"] == 1
    if "error_kind" in expect:
        assert code == 2
        assert stderr.strip(), "an error must also be explained on stderr"
        if expect["error_stage"] == "load":
            assert document["error"]["stage"] == "load"
            assert document["error"]["kind"] == expect["error_kind"], document["error"]
            assert document["error"]["file"], "a load error names the file at fault"
        else:
            (result,) = document["results"]
            assert result["error"] is not None, result
            assert result["error"]["stage"] == expect["error_stage"]
            assert result["error"]["kind"] == expect["error_kind"]
            assert result["pullSources"] == []
            if "candidates" in expect:
                _assert_candidates(result["candidates"], expect["candidates"])
        return

    assert code == 0, stderr
    (result,) = document["results"]
    assert result["error"] is None
    assert result["reference"] == case["reference"]
    assert _sources(result) == expect["pull_sources"]
    if "candidates" in expect:  # a short name: one resolution per candidate
        _assert_candidates(result["candidates"], expect["candidates"])
    else:
        assert result["candidates"] == []
        assert result["matchedPrefix"] == expect["matched_prefix"]
        assert (result["matchedPrefix"] is None) == expect["no_match"]
        _assert_kinds(result)
    if "unqualified_search_registries" in expect:
        code, config_doc = _config(case, tmp_path, podman, capsys)
        assert code == 0
        assert (
            config_doc["effective"]["unqualifiedSearchRegistries"]
            == expect["unqualified_search_registries"]
        )


def _sources(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"location": s["location"], "insecure": s["insecure"], "blocked": s["blocked"]}
        for s in result["pullSources"]
    ]


def _assert_kinds(result: dict[str, Any]) -> None:
    kinds = [s["kind"] for s in result["pullSources"]]
    assert kinds == ["mirror"] * (len(kinds) - 1) + ["source"]


def _assert_candidates(candidates: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert [c["reference"] for c in candidates] == [c["reference"] for c in expected]
    for candidate, expect in zip(candidates, expected):
        assert candidate["matchedPrefix"] == expect["matched_prefix"], candidate
        if "error_kind" in expect:
            assert candidate["error"] is not None, candidate
            assert candidate["error"]["stage"] == expect["error_stage"]
            assert candidate["error"]["kind"] == expect["error_kind"]
            assert candidate["pullSources"] == []
        else:
            assert candidate["error"] is None, candidate
            assert _sources(candidate) == expect["pull_sources"]
            _assert_kinds(candidate)


def _config(case: dict[str, Any], tmp_path: Path, podman: str | None, capsys: Any) -> Any:
    argv = ["config", "--host-root", str(tmp_path / "root"), "--home", "/home/user", "-o", "json"]
    override = case.get("env", {}).get("CONTAINERS_REGISTRIES_CONF")
    if override:
        argv += ["--registries-conf", str(tmp_path / "root" / override.lstrip("/"))]
    if podman:
        argv += ["--podman-version", podman]
    code = main(argv)
    return code, json.loads(capsys.readouterr().out)
