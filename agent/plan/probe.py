"""``agent plan --probe``: ask each mirror the proposal introduces whether it holds an
image's digest, from the workstation (the only module of the plan that runs commands).

``skopeo inspect --raw`` fetches the manifest only, with a registries.conf of its own that
has no mirror rules (so the mirror itself answers, not a mirror of it); a mirror the
rendering marks insecure (image.config ``insecureRegistries``) is marked insecure there
too, as on the nodes. Credentials are skopeo's own (``--authfile``, or the user's
auth.json), never printed.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Callable, Optional

from agent.plan.model import ProbeResult
from agent.process import CommandResult, run_command
from agent.pull.commands import skopeo_inspect_argv
from agent.pull.log.redact import redact
from agent.reference import ReferenceError, parse_normalized

Runner = Callable[..., CommandResult]
_MISSING = ("manifest unknown", "name unknown", "not found", "404")


def probe_config_text(insecure_locations: Sequence[str]) -> str:
    """A registries.conf without search registries or mirrors; insecure locations only."""
    lines = ["unqualified-search-registries = []", ""]
    for location in sorted(set(insecure_locations)):
        lines += ["[[registry]]", f"location = {json.dumps(location)}", "insecure = true", ""]
    return "\n".join(lines)


def _repository(location: str) -> str:
    return location.split("@", 1)[0]


def classify(result: CommandResult) -> tuple[str, str]:
    """(outcome, message) of one ``skopeo inspect --raw``."""
    if result.timed_out:
        return "error", f"no answer within {result.duration:.0f}s"
    if result.exit_code == 0:
        return "present", ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    fatal = [line for line in lines if "level=fatal" in line]
    message = redact((fatal or lines or ["skopeo failed without a message"])[-1].strip())
    if any(marker in message.lower() for marker in _MISSING):
        return "missing", message
    return "error", message


def _probe(
    location: str, conf: str, timeout: float, auth_file: Optional[str], run: Runner
) -> tuple[str, str]:
    """(outcome, message) of one mirror location (a pull source's, so a valid reference)."""
    try:
        ref = parse_normalized(location)
    except ReferenceError as exc:
        return "error", exc.message
    argv = skopeo_inspect_argv(ref, auth_file=auth_file, registries_conf=conf)
    argv = tuple(arg for arg in argv if arg != "--debug")
    return classify(run(argv, timeout=timeout))


def run_probes(
    targets: Sequence[tuple[str, str, bool]],
    *,
    timeout: float,
    auth_file: Optional[str] = None,
    run: Runner = run_command,
) -> list[ProbeResult]:
    """One probe per distinct mirror location, its result reported for each image."""
    results: list[ProbeResult] = []
    outcomes: dict[str, tuple[str, str]] = {}
    insecure = [_repository(location) for _, location, flag in targets if flag]
    with tempfile.TemporaryDirectory(prefix="mirror-agent-plan-") as folder:
        conf = Path(folder) / "registries.conf"
        conf.write_text(probe_config_text(insecure))
        for image, location, _insecure in targets:
            if location not in outcomes:
                outcomes[location] = _probe(location, str(conf), timeout, auth_file, run)
            outcome, message = outcomes[location]
            results.append(ProbeResult(image, location, outcome, message))  # type: ignore[arg-type]
    return results
