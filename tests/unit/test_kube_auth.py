"""kubectl's proxy choice, the Impersonate-* headers and ExecCredential decoding (no I/O)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from agent.kube.client import impersonation_headers, system_ca_bundle
from agent.kube.config import Impersonation
from agent.kube.exec_plugin import (
    ExecConfig,
    ExecCredential,
    ExecCredentialSource,
    ExecPluginError,
)
from agent.kube.proxy import choose_proxy, proxy_from_environment

API = "https://api.cluster.example.com:6443"


@pytest.mark.parametrize(
    ("no_proxy", "proxied"),
    [
        ("", True),
        ("*", False),
        ("example.com", False),  # a domain covers its subdomains
        (".example.com", False),
        ("*.example.com", False),
        (".cluster.example.com", False),
        ("api.cluster.example.com", False),
        ("api.cluster.example.com:6443", False),
        ("api.cluster.example.com:443", True),  # another port
        ("ample.com", True),  # not a label boundary
        ("other.example.org, ,10.0.0.0/8", True),
        (" EXAMPLE.COM ", False),
    ],
)
def test_no_proxy_as_go_reads_it(no_proxy: str, proxied: bool) -> None:
    env = {"HTTPS_PROXY": "proxy.corp:3128", "NO_PROXY": no_proxy}
    assert proxy_from_environment(API, env) == ("http://proxy.corp:3128" if proxied else None)


def test_no_proxy_addresses_and_ranges() -> None:
    env = {"https_proxy": "http://proxy:3128", "no_proxy": "10.0.0.0/8,192.168.1.5"}
    assert proxy_from_environment("https://10.1.2.3:6443", env) is None
    assert proxy_from_environment("https://192.168.1.5:6443", env) is None
    assert proxy_from_environment("https://192.168.1.6:6443", env) == "http://proxy:3128"
    assert proxy_from_environment("https://[fd00::1]:6443", env) == "http://proxy:3128"


def test_loopback_is_never_proxied_by_the_environment() -> None:
    env = {"HTTPS_PROXY": "http://proxy:3128"}
    for server in ("https://127.0.0.1:6443", "https://localhost:6443", "https://[::1]:6443"):
        assert proxy_from_environment(server, env) is None
    # but a cluster's proxy-url is used whatever the server
    assert choose_proxy("https://127.0.0.1:6443", "http://jump:8888", env) == "http://jump:8888"


def test_http_proxy_is_for_http_servers_only() -> None:
    env = {"HTTP_PROXY": "http://plain:80"}
    assert proxy_from_environment(API, env) is None
    assert proxy_from_environment("http://api.example:8080", env) == "http://plain:80"


def test_impersonation_headers_repeat_and_escape() -> None:
    who = Impersonation(
        user="bob",
        groups=("a", "b"),
        uid="42",
        extra=(("reason", ("x", "y")), ("example.com/scope%1", ("z",))),
    )
    assert impersonation_headers(who) == [
        ("Impersonate-User", "bob"),
        ("Impersonate-Uid", "42"),
        ("Impersonate-Group", "a"),
        ("Impersonate-Group", "b"),
        ("Impersonate-Extra-reason", "x"),
        ("Impersonate-Extra-reason", "y"),
        ("Impersonate-Extra-example.com%2Fscope%251", "z"),
    ]


V1 = "client.authentication.k8s.io/v1"


def decode(status: object, api_version: str = V1) -> ExecCredential:
    source = ExecCredentialSource(ExecConfig(user="u", api_version=V1, command="plugin"))
    body = {"kind": "ExecCredential", "apiVersion": api_version, "status": status}
    return source._decode(json.dumps(body), "plugin")


@pytest.mark.parametrize(
    ("status", "api_version", "words"),
    [
        ({"token": "sekrit"}, "client.authentication.k8s.io/v1beta1", "returned apiVersion"),
        (None, V1, "without a status"),
        ({}, V1, "neither a token nor a certificate"),
        ({"clientCertificateData": "PEM"}, V1, "without its key"),
        ({"token": "sekrit", "expirationTimestamp": "tomorrow"}, V1, "not an RFC 3339 time"),
    ],
)
def test_bad_exec_credentials(status: object, api_version: str, words: str) -> None:
    with pytest.raises(ExecPluginError, match=words) as caught:
        decode(status, api_version)
    assert "sekrit" not in f"{caught.value.message} {caught.value.hint}"


def test_expiration_timestamp_forms() -> None:
    status = {"token": "sekrit", "expirationTimestamp": "2030-01-02T03:04:05.123456Z"}
    expected = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert decode(status).expires_at == expected
    status["expirationTimestamp"] = "2030-01-02T05:04:05+02:00"
    credential = decode(status)
    assert credential.expires_at == expected and credential.token == "sekrit"
    assert "sekrit" not in repr(credential)


def test_credential_reused_until_shortly_before_expiry() -> None:
    runs: list[int] = []
    now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    clock = [now]
    source = ExecCredentialSource(
        ExecConfig(user="u", api_version=V1, command="plugin"), now=lambda: clock[0]
    )

    def run() -> ExecCredential:
        runs.append(1)
        return decode({"token": "t", "expirationTimestamp": "2030-01-01T01:00:00Z"})

    source._run = run  # type: ignore[method-assign]
    source.credential()
    clock[0] = now + timedelta(minutes=59)
    source.credential()
    assert len(runs) == 1
    clock[0] = now + timedelta(minutes=59, seconds=55)
    source.credential()
    assert len(runs) == 2
    source.credential(renew=True)  # after a 401
    assert len(runs) == 3


def test_system_ca_bundle_as_go_finds_it(tmp_path: Path) -> None:
    bundle = tmp_path / "corporate.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert system_ca_bundle({"SSL_CERT_FILE": str(bundle)}) == str(bundle)
    found = system_ca_bundle({"SSL_CERT_FILE": str(tmp_path / "missing.pem")})
    assert found is True or (isinstance(found, str) and Path(found).is_file())


@pytest.mark.parametrize(
    ("status", "words"),
    [
        ({"token": "sekrit", "expirationTimestamp": "2026-13-45T99:99:99Z"}, "not an RFC 3339"),
        ({"token": {"a": "sekrit"}}, "status.token as a JSON object, not a string"),
        ({"token": ["sekrit"]}, "status.token as a JSON array"),
        (
            {"clientCertificateData": 5, "clientKeyData": "sekrit"},
            "status.clientCertificateData as a JSON number",
        ),
        ({"clientCertificateData": "PEM", "clientKeyData": True}, "status.clientKeyData"),
        ({"token": "sekrit\nX-Evil: 1"}, "status.token .*control character"),
        ({"token": "sekrit\r"}, "status.token .*control character"),
        ({"token": "sekrit€"}, "status.token .*outside Latin-1"),
        ({"token": " sekrit"}, "status.token .*leading white space"),
    ],
)
def test_exec_credentials_of_the_wrong_type_or_unsendable_are_refused(
    status: object, words: str
) -> None:
    with pytest.raises(ExecPluginError, match=words) as caught:
        decode(status)
    assert "sekrit" not in f"{caught.value.message} {caught.value.hint}"


@pytest.mark.parametrize(
    ("who", "field"),
    [
        (Impersonation(user="bob\r\nX-Evil: 1"), "impersonated user"),
        (Impersonation(user="bob", groups=("ok", "b€d")), "impersonated group"),
        (Impersonation(user="bob", uid="4\n2"), "impersonated uid"),
        (Impersonation(user="bob", extra=(("k", ("v\x00",)),)), "extra value"),
    ],
)
def test_impersonation_values_that_cannot_be_headers_are_refused(
    who: Impersonation, field: str
) -> None:
    from agent.kube.config import KubeConfigError

    with pytest.raises(KubeConfigError, match=field) as caught:
        impersonation_headers(who)
    assert "Evil" not in caught.value.message and "b€d" not in caught.value.message


def test_impersonation_flags_that_cannot_be_headers_are_usage_errors(tmp_path: Path) -> None:
    from agent.errors import ExitCode, UsageError
    from agent.kube.workstation import workstation_client

    for flags in ({"as_user": "bob\r\nX-Evil: 1"}, {"as_groups": ["g€"]}, {"as_uid": "1\n"}):
        with pytest.raises(UsageError) as caught:
            workstation_client(str(tmp_path / "missing"), None, **flags)  # type: ignore[arg-type]
        assert caught.value.exit_code == ExitCode.BAD_INPUT
        assert "Evil" not in caught.value.message and "€" not in caught.value.message


@pytest.mark.parametrize("token", ["sekrit\nX-Evil: 1", "sekrit€"])
def test_a_header_requests_refuses_never_reaches_a_message(
    token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from agent.kube import client as client_module
    from agent.kube.client import KubeClient
    from agent.kube.config import ClusterConfig, KubeConfigError

    with socket.socket() as listener:  # accepts connections (backlog), never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        server = f"http://127.0.0.1:{listener.getsockname()[1]}"
        kube = KubeClient(ClusterConfig(server=server, token=token), retries=0, timeout=5)
        with pytest.raises(KubeConfigError, match="Authorization header") as caught:
            kube.get("/api")
        assert "sekrit" not in caught.value.message
        # behind the check, requests' and http.client's own refusals quote the value
        monkeypatch.setattr(client_module, "header_problem", lambda value: None)
        with pytest.raises(KubeConfigError, match="cannot be sent") as caught:
            kube.get("/api")
        assert "sekrit" not in f"{caught.value.message} {caught.value.hint}"
