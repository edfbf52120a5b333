"""A report made to fit in one ConfigMap (1 MiB), degraded in steps, verdicts never changed.

The steps, each taken only while the report is still too large: trim the raw logs (down to
nothing), leave out the effective registries entries, drop the per-attempt and probe
messages, then keep only the head of the image list: the images left out are counted
(``imagesOmitted``) and a ``report-truncated`` finding says so. The summary counts and the
verdict always describe every image checked. When even no image at all would not fit (a
node-level finding or an extra field of a megabyte), the node-level parts are trimmed last:
finding messages cut, the findings after the first hundred counted, ``notVerified`` and any
large extra field left out (``nodeLevelTrimmed`` says what); the report is still published.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Optional

from agent.errors import AgentError, clipped
from agent.report import CheckReport, Finding, ImageResult

CONFIGMAP_LIMIT = 1024 * 1024  # bytes of data, as the API server counts them
_HEADROOM = 4096  # keys, JSON framing of the ConfigMap itself
#: The raw log kept per image, in characters, at each trimming step.
_LOG_STEPS = (64 * 1024, 16 * 1024, 4096, 1024, 256, 0)
TRUNCATED = "report-truncated"
#: The node-level parts kept by the last step.
_NODE_MESSAGE_CHARS = 256
_NODE_FINDINGS = 100
_EXTRA_FIELD_BYTES = 1024
_REGISTRIES_FILES = 100


class ReportTooLarge(AgentError):
    pass


def _size(text: str) -> int:
    return len(text.encode())


def _trim_log(image: ImageResult, keep: int) -> ImageResult:
    if image.log is None or len(image.log) <= keep:
        return image
    trimmed = f"[trimmed to the last {keep} characters]\n" + image.log[-keep:] if keep else None
    return replace(image, log=trimmed)


def _without_messages(image: ImageResult) -> ImageResult:
    return replace(
        image,
        attempts=tuple(replace(attempt, message=None) for attempt in image.attempts),
        probes=tuple(replace(probe, message=None) for probe in image.probes),
        final_error=(image.final_error or "")[:256] or None,
    )


def _json_size(value: Any) -> int:
    return _size(json.dumps(value, separators=(",", ":")))


def _node_level_trimmed(
    report: CheckReport, base: dict[str, Any]
) -> tuple[CheckReport, dict[str, Any]]:
    """``report`` and ``base`` with their node-level parts bounded (the last step)."""
    said: list[str] = []
    findings = tuple(
        replace(f, message=clipped(f.message, _NODE_MESSAGE_CHARS)) for f in report.findings
    )
    if len(findings) > _NODE_FINDINGS:
        left_out = len(findings) - _NODE_FINDINGS
        findings = findings[:_NODE_FINDINGS]
        said.append(f"{left_out} findings")
    if report.not_verified:
        said.append(f"notVerified ({len(report.not_verified)} entries)")
    extra = {k: v for k, v in report.extra.items() if _json_size(v) <= _EXTRA_FIELD_BYTES}
    own = set(report.to_json()) - set(report.extra)  # what the report itself writes
    dropped = [k for k in report.extra if k not in extra]
    dropped += [
        key
        for key, value in base.items()
        if key not in own and key not in report.extra and _json_size(value) > _EXTRA_FIELD_BYTES
    ]
    said += [clipped(key, 64) for key in dropped]
    files = report.registries_files
    if len(files) > _REGISTRIES_FILES:
        said.append(f"{len(files) - _REGISTRIES_FILES} registries.conf file names")
        files = files[:_REGISTRIES_FILES]
    config_error = report.config_error
    if config_error and isinstance(config_error.get("message"), str):
        message = clipped(config_error["message"], _NODE_MESSAGE_CHARS)
        config_error = {**config_error, "message": message}
    trimmed = replace(
        report,
        findings=findings,
        not_verified=(),
        extra={**extra, "nodeLevelTrimmed": said} if said else extra,
        registries_files=files,
        config_error=config_error,
    )
    return trimmed, {key: value for key, value in base.items() if key not in dropped}


class _Fitter:
    def __init__(self, document: dict[str, Any], report: CheckReport) -> None:
        self.base = document
        self.report = report
        self.limit = CONFIGMAP_LIMIT - _HEADROOM
        self.summary = report.to_json()["summary"]  # of every image, whatever is left out

    def render(
        self, images: tuple[ImageResult, ...], *, omit_effective: bool, omitted: int = 0
    ) -> str:
        smaller = replace(self.report, images=images)
        document = {**self.base, **smaller.to_json()}
        if omit_effective:
            document["registriesConf"] = {
                **document["registriesConf"],
                "effective": None,
                "effectiveOmitted": True,
            }
        if omitted:
            document["summary"] = self.summary
            document["imagesOmitted"] = omitted
            document["findings"] = [
                *document["findings"],
                Finding(
                    TRUNCATED,
                    "warn",
                    f"the report lists {len(images)} of {len(self.report.images)} images; "
                    f"{omitted} were left out to fit the 1 MiB ConfigMap limit (their "
                    "verdicts are counted in the summary and the report's verdict)",
                ).to_json(),
            ]
        return json.dumps(document, separators=(",", ":"))

    def fits(self, text: str) -> bool:
        return _size(text) <= self.limit

    def _fit_images(self) -> Optional[str]:
        """The report made to fit by the image steps, or None when no head of the image
        list fits."""
        images = self.report.images
        for keep in _LOG_STEPS:
            images = tuple(_trim_log(image, keep) for image in self.report.images)
            text = self.render(images, omit_effective=False)
            if self.fits(text):
                return text
        text = self.render(images, omit_effective=True)
        if self.fits(text):
            return text
        images = tuple(_without_messages(image) for image in images)
        text = self.render(images, omit_effective=True)
        if self.fits(text):
            return text
        # The longest head of the image list that fits (the finding is added to each try).
        low, high = 0, len(images) - 1
        best: Optional[str] = None
        while low <= high:
            middle = (low + high) // 2
            attempt = self.render(
                images[:middle], omit_effective=True, omitted=len(images) - middle
            )
            if self.fits(attempt):
                best, low = attempt, middle + 1
            else:
                high = middle - 1
        return best

    def fit(self) -> str:
        text = self._fit_images()
        if text is not None:
            return text
        # Even without any image the report is too large: the node-level parts go last.
        self.report, self.base = _node_level_trimmed(self.report, self.base)
        text = self._fit_images()
        if text is not None:
            return text
        smallest = self.render((), omit_effective=True, omitted=len(self.report.images))
        raise ReportTooLarge(
            f"the report is {_size(smallest)} bytes even without images and with its "
            f"node-level findings trimmed; the limit used is {self.limit} bytes (the "
            f"ConfigMap's {CONFIGMAP_LIMIT} less {_HEADROOM} for its framing)",
            hint="check the agent's log for what the report holds",
        )


def fit_report(document: dict[str, Any], report: CheckReport) -> str:
    """The report JSON (``document``: the report's JSON plus what the publisher adds)
    under the ConfigMap limit, degraded in the steps the module describes."""
    return _Fitter(document, report).fit()
