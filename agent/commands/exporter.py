"""``agent collect --serve-metrics``: the cluster summary, re-read on an interval and served
to Prometheus over HTTP (the serving edge; agent/output/metrics.py builds the families).

The reports are read in the main thread; the HTTP server (prometheus_client's, in its own
thread) builds the families from the latest summary at each scrape, so a report's age is
that of the scrape. A failed read keeps the last summary and says so
(``mirror_agent_collect_success 0``): an API outage must not look like a healthy cluster
nor make every alert resolve.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Callable, Optional, TextIO

from agent.collect import Summary
from agent.errors import AgentError, EnvironmentFailure, ExitCode
from agent.output.metrics import summary_families
from agent.process import Terminated, stop_signals_raise


class SummaryCollector:
    """A prometheus_client collector over the latest summary (thread-safe)."""

    def __init__(
        self,
        read: Callable[[], Summary],
        *,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._read = read
        self._now = now
        self._lock = threading.Lock()
        self.summary: Optional[Summary] = None
        self.last_success: Optional[datetime] = None
        self.last_error: Optional[str] = None

    def refresh(self) -> Optional[str]:
        """Read the reports again; the error, or None when the read succeeded."""
        try:
            summary = self._read()
        except Exception as error:  # any failure: said, and the last summary kept served
            # (a bug on one odd report must not end the exporter nor blank the metrics)
            text = (
                str(error) if isinstance(error, AgentError) else f"{type(error).__name__}: {error}"
            )
            with self._lock:
                self.last_error = text
            return text
        with self._lock:
            self.summary, self.last_success, self.last_error = summary, self._now(), None
        return None

    def collect(self) -> Iterator[object]:
        with self._lock:
            summary, success, error = self.summary, self.last_success, self.last_error
        return iter(
            list(summary_families(summary, now=self._now(), last_success=success, last_error=error))
        )


_NOT_YET = object()


def serve_metrics(
    read: Callable[[], Summary],
    *,
    host: str,
    port: int,
    interval: float,
    out: TextIO,
    sleep: Callable[[float], None] = time.sleep,
) -> ExitCode:
    """Serve /metrics on ``host:port`` and re-read the reports every ``interval`` seconds
    until SIGTERM or Ctrl-C (a normal end: OK). A port that cannot be bound: ENVIRONMENT."""
    from prometheus_client import CollectorRegistry, start_http_server

    collector = SummaryCollector(read)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)  # type: ignore[arg-type]

    def log(fields: dict[str, object]) -> None:
        out.write(json.dumps({"time": _now_text(), **fields}, separators=(",", ":")) + "\n")
        out.flush()

    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as refused:
        raise EnvironmentFailure(
            f"--serve-metrics {host}:{port}: cannot listen: {refused.strerror or refused}"
        ) from None
    log({"event": "serving", "address": f"{host}:{port}", "interval": interval})
    previous: object = _NOT_YET
    try:
        with stop_signals_raise():
            while True:
                error = collector.refresh()
                if error != previous:  # log changes only: one line a minute is noise
                    if error:
                        log({"event": "read-failed", "error": error})
                    else:
                        nodes = len(collector.summary.nodes) if collector.summary else 0
                        log({"event": "read", "nodes": nodes})
                    previous = error
                sleep(interval)
    except Terminated:
        log({"event": "terminated"})
    except KeyboardInterrupt:
        log({"event": "interrupted"})
    finally:
        server.shutdown()
        server.server_close()
    return ExitCode.OK


def _now_text() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
