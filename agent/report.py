"""The versioned check report: typed data, to and from JSON (documented in the README).

Schema version: ``REPORT_SCHEMA_VERSION`` (agent/schema.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional, TypeVar, cast

from agent.schema import REPORT_SCHEMA_VERSION
from agent.vocabulary import (
    VERDICTS,
    Method,
    Outcome,
    ReportMethod,
    Severity,
    SourceKind,
    Verdict,
)

__all__ = ["VERDICTS", "Verdict", "worst"]  # the verdicts' words are re-exported from here

_RANK = {verdict: rank for rank, verdict in enumerate(VERDICTS)}


def timestamp(moment: Optional[datetime] = None) -> str:
    """RFC 3339 in UTC to the second, as ``checkedAt`` is written (now by default)."""
    moment = moment or datetime.now(timezone.utc)
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# A set of verdicts (a checklist item's lack "error"): the worst of them is one of them.
AnyVerdict = TypeVar("AnyVerdict", bound=Verdict)


def worst(verdicts: Iterable[AnyVerdict]) -> AnyVerdict:
    """The most severe verdict; ``pass`` for an empty list."""
    return max(verdicts, key=lambda verdict: _RANK[verdict], default=cast(AnyVerdict, "pass"))


@dataclass(frozen=True)
class Finding:
    code: str  # stable identifier, listed in the README
    severity: Severity
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "message": self.message}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        return cls(data["code"], data["severity"], data["message"])


@dataclass(frozen=True)
class Expected:
    location: str
    kind: SourceKind
    insecure: bool = False
    blocked: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "kind": self.kind,
            "insecure": self.insecure,
            "blocked": self.blocked,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Expected:
        return cls(
            data["location"], data["kind"], data.get("insecure", False), data.get("blocked", False)
        )


@dataclass(frozen=True)
class AttemptRecord:
    location: str
    outcome: Outcome
    kind: Optional[SourceKind] = None  # None when the configuration names it not
    reason: Optional[str] = None
    message: Optional[str] = None

    def to_json(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "kind": self.kind,
            "outcome": self.outcome,
            "reason": self.reason,
            "message": self.message,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AttemptRecord:
        return cls(
            data["location"],
            data["outcome"],
            data.get("kind"),
            data.get("reason"),
            data.get("message"),
        )


@dataclass(frozen=True)
class Probe:
    """A mirror asked directly (no mirror rules) whether it holds the image."""

    location: str
    available: bool
    reason: Optional[str] = None
    message: Optional[str] = None
    digest: Optional[str] = None  # of the manifest the mirror answered with, when it did

    def to_json(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "available": self.available,
            "reason": self.reason,
            "message": self.message,
            "digest": self.digest,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Probe:
        return cls(
            data["location"],
            data["available"],
            data.get("reason"),
            data.get("message"),
            data.get("digest"),
        )


@dataclass(frozen=True)
class ImageResult:
    image: str  # as given
    verdict: Verdict
    reference: Optional[str] = None  # as podman pulls it
    expected: tuple[Expected, ...] = ()
    skipped_mirrors: tuple[tuple[str, str], ...] = ()  # (location, reason)
    attempts: tuple[AttemptRecord, ...] = ()
    served_by: Optional[str] = None
    served_by_kind: Optional[SourceKind] = None
    findings: tuple[Finding, ...] = ()
    probes: tuple[Probe, ...] = ()
    rounds: int = 0
    exit_code: Optional[int] = None
    duration_seconds: Optional[float] = None
    final_error: Optional[str] = None
    log: Optional[str] = None  # the redacted debug log; trimmed first when space is short
    method: Optional[Method] = None  # when it ran (a line may differ)
    # `agent analyze`: the attempts were read from the error text (no debug lines)
    attempts_inferred: bool = False
    # The digest of the manifest served (a tag's content), when known: collect compares it
    served_digest: Optional[str] = None

    def to_json(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "reference": self.reference,
            "verdict": self.verdict,
            "method": self.method,
            "expected": [item.to_json() for item in self.expected],
            "skippedMirrors": [
                {"location": location, "reason": reason}
                for location, reason in self.skipped_mirrors
            ],
            "attempts": [attempt.to_json() for attempt in self.attempts],
            "attemptsInferred": self.attempts_inferred,
            "servedBy": self.served_by,
            "servedByKind": self.served_by_kind,
            "servedDigest": self.served_digest,
            "findings": [finding.to_json() for finding in self.findings],
            "probes": [probe.to_json() for probe in self.probes],
            "rounds": self.rounds,
            "exitCode": self.exit_code,
            "durationSeconds": self.duration_seconds,
            "finalError": self.final_error,
            "log": self.log,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImageResult:
        return cls(
            image=data["image"],
            verdict=data["verdict"],
            reference=data.get("reference"),
            expected=tuple(Expected.from_json(item) for item in data.get("expected", [])),
            skipped_mirrors=tuple(
                (item["location"], item["reason"]) for item in data.get("skippedMirrors", [])
            ),
            attempts=tuple(AttemptRecord.from_json(item) for item in data.get("attempts", [])),
            served_by=data.get("servedBy"),
            served_by_kind=data.get("servedByKind"),
            findings=tuple(Finding.from_json(item) for item in data.get("findings", [])),
            probes=tuple(Probe.from_json(item) for item in data.get("probes", [])),
            rounds=data.get("rounds", 0),
            exit_code=data.get("exitCode"),
            duration_seconds=data.get("durationSeconds"),
            final_error=data.get("finalError"),
            log=data.get("log"),
            method=data.get("method"),
            attempts_inferred=bool(data.get("attemptsInferred", False)),
            served_digest=data.get("servedDigest"),
        )


@dataclass(frozen=True)
class NotVerified:
    """A mirrored entry that ``--auto`` found no local image for."""

    prefix: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "reason": self.reason}


@dataclass(frozen=True)
class CheckReport:
    node: str
    checked_at: str  # RFC 3339, UTC
    verdict: Verdict
    images: tuple[ImageResult, ...] = ()
    podman_version: Optional[str] = None
    method: ReportMethod = "pull"
    storage: str = "scratch"
    registries_files: tuple[str, ...] = ()
    fingerprint: Optional[str] = None
    behaviour: Optional[str] = None
    config_error: Optional[dict[str, Any]] = None
    not_verified: tuple[NotVerified, ...] = ()
    findings: tuple[Finding, ...] = ()  # node-level findings (configuration, environment)
    agent_version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the node's MCO state (DaemonSet)
    # The effective [[registry]] entries (Configuration.canonical()["registries"]), so that
    # ``agent checklist`` can compare the node's mirror rules with the cluster's mirror sets.
    effective_registries: Optional[list[dict[str, Any]]] = None

    def to_json(self) -> dict[str, Any]:
        counts = {verdict: 0 for verdict in VERDICTS}
        for image in self.images:
            counts[image.verdict] += 1
        document: dict[str, Any] = {
            "schemaVersion": REPORT_SCHEMA_VERSION,
            "node": self.node,
            "checkedAt": self.checked_at,
            "agentVersion": self.agent_version,
            "podmanVersion": self.podman_version,
            "method": self.method,
            "storage": self.storage,
            "registriesConf": {
                "files": list(self.registries_files),
                "fingerprint": self.fingerprint,
                "behaviour": self.behaviour,
                "error": self.config_error,
                "effective": self.effective_registries,
            },
            "verdict": self.verdict,
            "summary": counts,
            "findings": [finding.to_json() for finding in self.findings],
            "images": [image.to_json() for image in self.images],
            "notVerified": [item.to_json() for item in self.not_verified],
        }
        document.update(self.extra)
        return document

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CheckReport:
        """A report as :meth:`to_json` wrote it; :class:`InvalidReport` names a field that
        is missing or of the wrong type."""
        check_report_json(data)
        for key in ("node", "checkedAt", "verdict"):
            _typed(data, key, str, "", required=True)
        if data.get("schemaVersion") != REPORT_SCHEMA_VERSION:
            raise InvalidReport(
                f"report schemaVersion {data.get('schemaVersion')!r} is not {REPORT_SCHEMA_VERSION}"
            )
        conf = data.get("registriesConf") or {}
        known = {
            "schemaVersion",
            "node",
            "checkedAt",
            "agentVersion",
            "podmanVersion",
            "method",
            "storage",
            "registriesConf",
            "verdict",
            "summary",
            "findings",
            "images",
            "notVerified",
        }
        return cls(
            node=data["node"],
            checked_at=data["checkedAt"],
            verdict=data["verdict"],
            images=tuple(ImageResult.from_json(item) for item in data.get("images", [])),
            podman_version=data.get("podmanVersion"),
            method=data.get("method", "pull"),
            storage=data.get("storage", "scratch"),
            registries_files=tuple(conf.get("files", [])),
            fingerprint=conf.get("fingerprint"),
            behaviour=conf.get("behaviour"),
            config_error=conf.get("error"),
            not_verified=tuple(
                NotVerified(item["prefix"], item["reason"]) for item in data.get("notVerified", [])
            ),
            findings=tuple(Finding.from_json(item) for item in data.get("findings", [])),
            agent_version=data.get("agentVersion", ""),
            extra={key: value for key, value in data.items() if key not in known},
            effective_registries=conf.get("effective"),
        )


# -- reading a report someone else wrote ---------------------------------------------------


class InvalidReport(ValueError):
    """A report whose JSON does not have the documented shape; the message names the field."""


_TYPE_NAMES = {str: "a string", dict: "an object", list: "a list", bool: "a boolean"}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def _typed(
    data: dict[str, Any], key: str, kind: type, where: str, *, required: bool = False
) -> Any:
    value = data.get(key)
    if value is None:
        if required:
            raise InvalidReport(f"{where}{key} is missing")
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise InvalidReport(f"{where}{key} must be {_TYPE_NAMES[kind]}, not {_json_type(value)}")
    return value


def _objects(data: dict[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    items = _typed(data, key, list, where) or []
    for number, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidReport(f"{where}{key}[{number}] must be an object, not {_json_type(item)}")
    return items


def _verdict(data: dict[str, Any], where: str, *, required: bool) -> None:
    verdict = _typed(data, "verdict", str, where, required=required)
    if verdict is not None and verdict not in VERDICTS:
        raise InvalidReport(f"{where}verdict {verdict[:40]!r} is not one of {', '.join(VERDICTS)}")


def _check_findings(data: dict[str, Any], where: str) -> None:
    for number, finding in enumerate(_objects(data, "findings", where)):
        at = f"{where}findings[{number}]."
        for key in ("code", "severity", "message"):
            _typed(finding, key, str, at, required=True)


def check_report_json(data: Any) -> dict[str, Any]:
    """``data`` when every field a reader uses has its documented type (docs/json.md);
    else :class:`InvalidReport` naming the first field at fault. Unknown fields pass."""
    if not isinstance(data, dict):
        raise InvalidReport(f"the report must be a JSON object, not {_json_type(data)}")
    for key in ("node", "checkedAt", "agentVersion", "podmanVersion", "method", "storage"):
        _typed(data, key, str, "")
    _verdict(data, "", required=False)
    conf = _typed(data, "registriesConf", dict, "") or {}
    _typed(conf, "fingerprint", str, "registriesConf.")
    _typed(conf, "behaviour", str, "registriesConf.")
    _typed(conf, "error", dict, "registriesConf.")
    _objects(conf, "effective", "registriesConf.")
    _typed(conf, "effectiveOmitted", bool, "registriesConf.")
    for number, name in enumerate(_typed(conf, "files", list, "registriesConf.") or []):
        if not isinstance(name, str):
            raise InvalidReport(f"registriesConf.files[{number}] must be a string")
    machine_config = _typed(data, "machineConfig", dict, "") or {}
    for key, value in machine_config.items():
        if value is not None and not isinstance(value, str):
            raise InvalidReport(f"machineConfig.{key} must be a string, not {_json_type(value)}")
    _check_findings(data, "")
    for number, item in enumerate(_objects(data, "notVerified", "")):
        for key in ("prefix", "reason"):
            _typed(item, key, str, f"notVerified[{number}].", required=True)
    for number, image in enumerate(_objects(data, "images", "")):
        at = f"images[{number}]."
        _typed(image, "image", str, at, required=True)
        _verdict(image, at, required=True)
        for key in ("reference", "method", "servedBy", "servedByKind", "servedDigest"):
            _typed(image, key, str, at)
        for key in ("finalError", "log"):
            _typed(image, key, str, at)
        for key in ("rounds", "exitCode", "durationSeconds"):
            value = image.get(key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float))
            ):
                raise InvalidReport(f"{at}{key} must be a number, not {_json_type(value)}")
        _check_findings(image, at)
        for index, attempt in enumerate(_objects(image, "attempts", at)):
            where = f"{at}attempts[{index}]."
            _typed(attempt, "location", str, where, required=True)
            _typed(attempt, "outcome", str, where, required=True)
            for key in ("kind", "reason", "message", "digest"):
                _typed(attempt, key, str, where)
        for index, expected in enumerate(_objects(image, "expected", at)):
            where = f"{at}expected[{index}]."
            _typed(expected, "location", str, where, required=True)
            _typed(expected, "kind", str, where, required=True)
            _typed(expected, "insecure", bool, where)
            _typed(expected, "blocked", bool, where)
        for index, skipped in enumerate(_objects(image, "skippedMirrors", at)):
            for key in ("location", "reason"):
                _typed(skipped, key, str, f"{at}skippedMirrors[{index}].", required=True)
        for index, probe in enumerate(_objects(image, "probes", at)):
            where = f"{at}probes[{index}]."
            _typed(probe, "location", str, where, required=True)
            _typed(probe, "available", bool, where, required=True)
            for key in ("reason", "message", "digest"):
                _typed(probe, key, str, where)
    return data
