"""``--probe``: which mirrors are asked, how skopeo is called, how its answers are read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.checklist.mirror_sets import ICSP, IDMS
from agent.plan import probe_targets
from agent.plan.probe import classify, probe_config_text, run_probes
from agent.process import CommandResult
from agent.registries.decode import decode_file
from agent.registries.merge import merge
from agent.registries.model import CURRENT
from tests.unit.plan.helpers import (
    BY_DIGEST,
    BY_TAG,
    DIGEST,
    M1,
    M2,
    NEW,
    SOURCE,
    image_config,
    mirror_set,
    plan_of,
    state,
)


def result(code: int = 0, stderr: str = "", timed_out: bool = False) -> CommandResult:
    return CommandResult(("skopeo",), code, "", stderr, timed_out, 1.0)


def test_only_mirrors_the_proposal_introduces_are_probed() -> None:
    plan = plan_of(
        NEW,
        state(mirror_set(IDMS, "team", (SOURCE, [M1]))),
        [mirror_set(IDMS, "team", (SOURCE, [M2, M1]))],
    )
    targets, skipped = probe_targets(plan)
    assert targets == [(BY_DIGEST, f"{M2}/app@{DIGEST}", False)]
    assert skipped == []  # the tag's route does not change


def test_a_tag_sent_to_a_new_mirror_cannot_be_probed() -> None:
    plan = plan_of(NEW, state(), [mirror_set("ImageTagMirrorSet", "t", (SOURCE, [M1]))])
    targets, skipped = probe_targets(plan)
    assert targets == []
    assert skipped == [(BY_TAG, "by tag: a probe asks a mirror for a digest")]


def test_insecure_mirrors_are_marked_so() -> None:
    plan = plan_of(
        NEW,
        state(config=image_config(insecureRegistries=[M2.split("/")[0]])),
        [mirror_set(ICSP, "team", (SOURCE, [M2]))],
    )
    targets, _ = probe_targets(plan)
    assert targets == [(BY_DIGEST, f"{M2}/app@{DIGEST}", True)]


def test_the_probe_configuration_has_no_mirror_rules() -> None:
    text = probe_config_text(["mirror-two.example/team/app", "mirror-two.example/team/app"])
    config = merge([decode_file(text, "probe.conf", drop_in=False, compat=CURRENT)])
    assert config.unqualified_search_registries == ()
    assert [(e.prefix, e.insecure, e.mirrors) for e in config.registries] == [
        ("mirror-two.example/team/app", True, ())
    ]


def test_answers() -> None:
    assert classify(result()) == ("present", "")
    missing = 'time="x" level=fatal msg="Error parsing image name: manifest unknown"'
    assert classify(result(1, f"noise\n{missing}\n")) == ("missing", missing)
    refused = 'level=fatal msg="pinging container registry m: dial tcp: connection refused"'
    assert classify(result(1, refused)) == ("error", refused)
    assert classify(result(None, "", timed_out=True)) == ("error", "no answer within 1s")  # type: ignore[arg-type]


def test_each_location_is_asked_once_with_the_private_configuration() -> None:
    calls: list[Sequence[str]] = []

    def run(argv: Sequence[str], **options: Any) -> CommandResult:
        calls.append(argv)
        assert options == {"timeout": 9.0}
        conf = argv[argv.index("--registries-conf") + 1]
        with open(conf) as handle:
            assert 'location = "m2.example/a"' in handle.read()
        return result(1, 'level=fatal msg="manifest unknown"')

    location = f"m2.example/a@{DIGEST}"
    probes = run_probes(
        [("img-1", location, True), ("img-2", location, True)],
        timeout=9.0,
        auth_file="/run/user/auth.json",
        run=run,
    )
    assert [(p.image, p.outcome) for p in probes] == [("img-1", "missing"), ("img-2", "missing")]
    (argv,) = calls
    assert argv[0] == "skopeo" and "--debug" not in argv
    assert argv[-3:] == ("--authfile", "/run/user/auth.json", f"docker://{location}")


def test_a_location_that_is_no_reference_runs_no_command() -> None:
    def run(argv: Sequence[str], **options: Any) -> CommandResult:
        raise AssertionError(f"ran {argv}")

    (probe,) = run_probes([("img", "--registries-conf=/x", False)], timeout=1.0, run=run)
    assert probe.outcome == "error" and "--registries-conf=/x" in probe.message
