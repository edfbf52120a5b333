"""Credential plugins (a kubeconfig user's ``exec``), as client-go runs them.

The plugin is run through :func:`agent.process.run_command` with the kubeconfig's
``args`` and ``env`` on top of the agent's environment, and ``KUBERNETES_EXEC_INFO``
describing the request (and the cluster, with ``provideClusterInfo``). It prints an
``ExecCredential`` (``client.authentication.k8s.io/v1`` or ``v1beta1``) with a token or a
client certificate and key, and perhaps an ``expirationTimestamp``: the credential is
reused until shortly before then, and the plugin run again once after a 401.

``interactiveMode``: ``Never`` gives the plugin no stdin; ``IfAvailable`` (v1beta1's
default) passes the terminal through when stdin is one; ``Always`` needs a terminal.
The plugin's stdout (the secret) is never shown. Its stderr goes to the agent's stderr as
it comes, as client-go passes it (a browser login prints the URL to open there), and is
quoted in the error when the plugin fails.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Literal, Optional

from agent.documents import DocumentError, parse_json
from agent.errors import EnvironmentFailure
from agent.kube.headers import header_problem
from agent.kube.secret_files import secret_file

if TYPE_CHECKING:
    from agent.process import CommandResult

InteractiveMode = Literal["Never", "IfAvailable", "Always"]
API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
#: How long a plugin may run. client-go waits for ever; a plugin that opens a browser
#: for a login needs a while, one that hangs must not hang the agent.
DEFAULT_TIMEOUT = 120.0
#: A credential is renewed this long before it expires (a request must not carry a
#: token that expires on its way).
RENEW_BEFORE = timedelta(seconds=10)
_STDERR_SHOWN = 20  # lines of a failing plugin's stderr in the error
#: The key under a cluster's ``extensions`` whose value goes to the plugin as ``config``.
EXEC_EXTENSION = "client.authentication.k8s.io/exec"


class ExecPluginError(EnvironmentFailure):
    """A credential plugin is missing, failed, hung or printed no usable credential."""

    kind = "exec-plugin"


@dataclass(frozen=True)
class ExecConfig:
    """A kubeconfig user's ``exec`` section, validated."""

    user: str  # the kubeconfig user's name, for messages
    api_version: str
    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    install_hint: str = ""
    interactive_mode: InteractiveMode = "IfAvailable"
    #: ``spec.cluster`` of KUBERNETES_EXEC_INFO when ``provideClusterInfo`` is set
    cluster_info: Optional[dict[str, Any]] = field(default=None, compare=False)


@dataclass(frozen=True)
class ExecCredential:
    token: Optional[str]
    client_cert: Optional[tuple[str, str]]  # (certificate file, key file): memory files
    expires_at: Optional[datetime]

    def __repr__(self) -> str:  # never a secret in a log or traceback
        return f"ExecCredential(expires_at={self.expires_at!r})"


def _parse_time(text: Any) -> Optional[datetime]:
    """RFC 3339 (what Go writes: ``2026-01-02T15:04:05Z``, perhaps with fractions)."""
    if not isinstance(text, str):
        return None
    match = re.fullmatch(
        r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)", text.strip(), re.I
    )
    if not match:
        return None
    zone = "+00:00" if match.group(2).upper() == "Z" else match.group(2)
    try:
        return datetime.fromisoformat(match.group(1) + zone)
    except ValueError:  # the right shape, but month 13 or hour 99
        return None


def _json_type(value: Any) -> str:
    """What a decoded JSON value is, in JSON's words (never the value: it may be secret)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, dict):
        return "object"
    return "array" if isinstance(value, list) else "value"


def _to_stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _stderr_tail(result: CommandResult) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return "\n".join(lines[-_STDERR_SHOWN:])


class ExecCredentialSource:
    """Runs one user's plugin when a credential is needed, and keeps what it returned
    until shortly before it expires."""

    def __init__(
        self,
        config: ExecConfig,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        environ: Mapping[str, str] = os.environ,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        stdin_is_terminal: Callable[[], bool] = lambda: (
            sys.stdin is not None and sys.stdin.isatty()
        ),
        show_stderr_line: Optional[Callable[[str], None]] = None,
    ) -> None:
        self.config = config
        self.timeout = timeout
        self.environ = environ
        self.now = now
        self.stdin_is_terminal = stdin_is_terminal
        self.show_stderr_line = show_stderr_line or _to_stderr
        self.runs = 0
        self._cached: Optional[ExecCredential] = None

    def credential(self, *, renew: bool = False) -> ExecCredential:
        """The current credential; the plugin runs when there is none, it is about to
        expire, or ``renew`` (the API answered 401 to it)."""
        cached = self._cached
        if (
            cached is None
            or renew
            or (cached.expires_at is not None and self.now() >= cached.expires_at - RENEW_BEFORE)
        ):
            self._cached = cached = self._run()
        return cached

    def _interactive(self) -> bool:
        mode = self.config.interactive_mode
        if mode == "Never":
            return False
        terminal = self.stdin_is_terminal()
        if mode == "Always" and not terminal:
            raise ExecPluginError(
                f"exec plugin {self.config.command!r} of kubeconfig user {self.config.user!r} "
                "has interactiveMode Always, but standard input is not a terminal",
                hint="run the command from a terminal",
            )
        return terminal

    def _run(self) -> ExecCredential:
        from agent.process import CommandNotFound, run_command  # psutil: only when needed

        config = self.config
        interactive = self._interactive()
        spec: dict[str, Any] = {"interactive": interactive}
        if config.cluster_info is not None:
            spec["cluster"] = config.cluster_info
        info = {"kind": "ExecCredential", "apiVersion": config.api_version, "spec": spec}
        env = dict(self.environ)
        env.update(config.env)
        env["KUBERNETES_EXEC_INFO"] = json.dumps(info)
        name = f"exec plugin {config.command!r} of kubeconfig user {config.user!r}"
        self.runs += 1
        try:
            result = run_command(
                [config.command, *config.args],
                timeout=self.timeout,
                env=env,
                interactive=interactive,
                on_stderr_line=self.show_stderr_line,
            )
        except CommandNotFound as exc:
            raise ExecPluginError(
                f"{name} cannot be run: {exc.message.split(': ', 1)[-1]}",
                hint=config.install_hint or f"install {os.path.basename(config.command)}",
            ) from None
        stderr = _stderr_tail(result)
        if result.timed_out:
            raise ExecPluginError(
                f"{name} did not finish within {self.timeout:g}s and was stopped"
                + (f"; it said:\n{stderr}" if stderr else ""),
                hint="check that the plugin can reach its identity provider; "
                "a plugin that waits for input needs interactiveMode IfAvailable and a terminal",
            )
        if result.exit_code != 0:
            raise ExecPluginError(
                f"{name} failed (exit status {result.exit_code})"
                + (f":\n{stderr}" if stderr else " and printed nothing on stderr")
            )
        return self._decode(result.stdout, name)

    def _decode(self, stdout: str, name: str) -> ExecCredential:
        """The ExecCredential the plugin printed; errors never quote stdout (a secret)."""
        try:
            document = parse_json(stdout, name)  # nesting bounded
        except DocumentError:
            raise ExecPluginError(
                f"{name} printed no ExecCredential JSON ({len(stdout)} characters on stdout)"
            ) from None
        if not isinstance(document, dict) or document.get("kind") != "ExecCredential":
            raise ExecPluginError(f"{name} printed JSON that is not an ExecCredential")
        if document.get("apiVersion") != self.config.api_version:
            raise ExecPluginError(
                f"{name} is configured for {self.config.api_version} but returned "
                f"apiVersion {str(document.get('apiVersion'))!r}"
            )
        status = document.get("status")
        if not isinstance(status, dict):
            raise ExecPluginError(f"{name} returned an ExecCredential without a status")
        for key in ("token", "clientCertificateData", "clientKeyData"):
            value = status.get(key)
            if value is not None and not isinstance(value, str):
                raise ExecPluginError(
                    f"{name} returned status.{key} as a JSON {_json_type(value)}, not a string"
                )
        token = status.get("token") or None
        if token is not None:
            problem = header_problem(token)
            if problem is not None:
                raise ExecPluginError(
                    f"{name} returned a status.token that cannot be sent in an HTTP "
                    f"Authorization header: it contains {problem}"
                )
        cert_pem, key_pem = status.get("clientCertificateData"), status.get("clientKeyData")
        if bool(cert_pem) != bool(key_pem):
            raise ExecPluginError(
                f"{name} returned a client certificate without its key, or a key without "
                "its certificate"
            )
        if not token and not cert_pem:
            raise ExecPluginError(f"{name} returned neither a token nor a certificate and key")
        expires_at = None
        if status.get("expirationTimestamp"):
            expires_at = _parse_time(status["expirationTimestamp"])
            if expires_at is None:
                raise ExecPluginError(
                    f"{name} returned expirationTimestamp "
                    f"{str(status['expirationTimestamp'])!r}, which is not an RFC 3339 time"
                )
        client_cert = None
        if cert_pem and key_pem:
            client_cert = (
                secret_file(str(cert_pem).encode(), ".crt"),
                secret_file(str(key_pem).encode(), ".key"),
            )
        return ExecCredential(
            token=str(token) if token else None, client_cert=client_cert, expires_at=expires_at
        )
