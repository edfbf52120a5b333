"""A report made to fit in one ConfigMap (1 MiB), degraded in steps, verdicts never changed.

The steps, each taken only while the report is still too large: trim the raw logs (down to
nothing), leave out the effective registries entries, drop the per-attempt and probe
messages, then keep only the head of the image list: the images left out are counted
(``imagesOmitted``) and a ``report-truncated`` finding says so. The summary counts and the
verdict always describe every image checked.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from agent.errors import AgentError
from agent.report import CheckReport, Finding, ImageResult

CONFIGMAP_LIMIT = 1024 * 1024  # bytes of data, as the API server counts them
_HEADROOM = 4096  # keys, JSON framing of the ConfigMap itself
#: The raw log kept per image, in characters, at each trimming step.
_LOG_STEPS = (64 * 1024, 16 * 1024, 4096, 1024, 256, 0)
TRUNCATED = "report-truncated"


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

    def fit(self) -> str:
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
        best = None
        while low <= high:
            middle = (low + high) // 2
            attempt = self.render(
                images[:middle], omit_effective=True, omitted=len(images) - middle
            )
            if self.fits(attempt):
                best, low = attempt, middle + 1
            else:
                high = middle - 1
        if best is None:
            raise ReportTooLarge(
                f"the report is {_size(text)} bytes even without images; the ConfigMap "
                f"limit is {CONFIGMAP_LIMIT}",
                hint="the node-level findings are too large; check the agent's log",
            )
        return best


def fit_report(document: dict[str, Any], report: CheckReport) -> str:
    """The report JSON (``document``: the report's JSON plus what the publisher adds)
    under the ConfigMap limit, degraded in the steps the module describes."""
    return _Fitter(document, report).fit()
