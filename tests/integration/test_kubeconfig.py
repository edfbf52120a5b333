"""Kubeconfigs as oc and kubectl accept them: exec credential plugins, proxies, TLS server
names, impersonation. Every kubeconfig here is also given to the real kubectl, against the
same fake API server: the reference that the kubeconfig itself is valid and that the
agent behaves as kubectl does with it.
"""

from __future__ import annotations

import base64
import json
import os
import pty
import select
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import psutil
import pytest
import yaml

from agent.cli.app import main
from agent.kube.client import Forbidden, KubeClient, Unauthorized, Unreachable, configmap_path
from agent.kube.config import ImpersonationFlags, KubeConfigError, from_kubeconfig
from agent.kube.exec_plugin import ExecCredentialSource, ExecPluginError
from tests.support.connect_proxy import ConnectProxy
from tests.support.data import PROJECT_ROOT
from tests.support.fake_apiserver import FakeApiServer
from tests.support.fake_apiserver.certs import issue_client_cert

PLUGIN = PROJECT_ROOT / "tests" / "support" / "credential_plugin.py"
V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"
NS = "mirror-agent"
KUBECTL = "/usr/bin/kubectl"


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with FakeApiServer(token="primary-token") as fake:
        fake.add_node("worker-0")
        fake.put({"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": "probe", "namespace": NS}, "data": {"k": "v"}})  # fmt: skip
        yield fake


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Plugin:
    """The test credential plugin's state folder: what it serves, what it was given."""

    def __init__(self, root: Path) -> None:
        self.state = root / "plugin-state"
        self.state.mkdir()
        self.serve({"token": "unused"})

    def serve(self, *statuses: dict[str, Any]) -> None:
        (self.state / "credentials.jsonl").write_text(
            "".join(json.dumps(status) + "\n" for status in statuses)
        )

    def runs(self) -> list[dict[str, Any]]:
        log = self.state / "runs.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def forget_runs(self) -> None:
        (self.state / "runs.jsonl").unlink(missing_ok=True)

    def section(self, mode: str = "serve", api_version: str = V1, **extra: Any) -> dict[str, Any]:
        exec_: dict[str, Any] = {
            "apiVersion": api_version,
            "command": sys.executable,
            "args": [str(PLUGIN), str(self.state), mode],
        }
        if api_version == V1:
            exec_["interactiveMode"] = "Never"
        exec_.update(extra)
        return exec_


@pytest.fixture
def plugin(tmp_path: Path) -> Plugin:
    return Plugin(tmp_path)


def write_kubeconfig(
    path: Path,
    server: FakeApiServer,
    user: dict[str, Any],
    *,
    url: Optional[str] = None,
    **cluster: Any,
) -> Path:
    cluster = {"server": url or server.url, "certificate-authority": server.ca_file, **cluster}
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "ctx",
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
                "clusters": [{"name": "c", "cluster": cluster}],
                "users": [{"name": "u", "user": user}],
            }
        )
    )
    return path


def kubectl(
    kubeconfig: Path, *args: str, env: Optional[dict[str, str]] = None
) -> subprocess.CompletedProcess[str]:
    """The real kubectl, with its caches in the kubeconfig's folder and only ``env`` (no
    proxy variables of the machine running the tests)."""
    home = kubeconfig.parent / "kubectl-home"
    home.mkdir(exist_ok=True)
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    environment.update(env or {})
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), "--request-timeout", "20s", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        check=False,
    )


def kubectl_lists_configmaps(kubeconfig: Path, env: Optional[dict[str, str]] = None) -> None:
    done = kubectl(kubeconfig, "get", "configmaps", "-n", NS, "-o", "name", env=env)
    assert done.returncode == 0, done.stderr
    assert "configmap/probe" in done.stdout.split()


def agent_lists_configmaps(kubeconfig: Path, env: Optional[dict[str, str]] = None) -> KubeClient:
    env = env or {}
    client = KubeClient(from_kubeconfig(str(kubeconfig), env=env), environ=env, retries=0)
    names = [item["metadata"]["name"] for item in client.list(configmap_path(NS))]
    assert names == ["probe"]
    return client


def bearer(server: FakeApiServer) -> list[str]:
    return [r.headers.get("authorization", "") for r in server.requests]


# --- exec plugins -------------------------------------------------------------------------


@pytest.mark.parametrize("api_version", [V1, V1BETA1])
def test_exec_plugin_token_and_cluster_info(
    server: FakeApiServer, plugin: Plugin, tmp_path: Path, api_version: str
) -> None:
    server.issue_token("oidc-token-1", "alice@example.com", ["admins"])
    plugin.serve({"token": "oidc-token-1"})
    extension = {"name": "client.authentication.k8s.io/exec", "extension": {"audience": "api"}}
    kubeconfig = write_kubeconfig(
        tmp_path / "kubeconfig",
        server,
        {"exec": plugin.section(
            api_version=api_version, provideClusterInfo=True,
            env=[{"name": "PLUGIN_ISSUER", "value": "https://sso.example"}],
        )},
        extensions=[extension],
    )  # fmt: skip
    agent_lists_configmaps(kubeconfig)
    assert set(bearer(server)) == {"Bearer oidc-token-1"}
    (run,) = plugin.runs()  # one run: the token is kept for the following requests
    assert run["env"] == {"PLUGIN_ISSUER": "https://sso.example"}
    assert run["info"]["apiVersion"] == api_version
    assert run["info"]["spec"]["interactive"] is False
    cluster = run["info"]["spec"]["cluster"]
    assert cluster["server"] == server.url
    assert cluster["config"] == {"audience": "api"}
    assert (
        base64.b64decode(cluster["certificate-authority-data"]).decode()
        == Path(server.ca_file).read_text()
    )

    plugin.forget_runs()
    kubectl_lists_configmaps(kubeconfig)
    kubectl_runs = plugin.runs()
    assert kubectl_runs  # kubectl runs it once per transport (discovery, then the request)
    for kubectl_run in kubectl_runs:
        assert kubectl_run["info"]["spec"]["cluster"]["config"] == {"audience": "api"}
        assert kubectl_run["info"]["apiVersion"] == api_version


def test_expired_token_is_rejected_and_the_plugin_run_again(
    server: FakeApiServer, plugin: Plugin, tmp_path: Path
) -> None:
    """The server's clock passes the token's expiry while the agent still holds it (its
    own clock has not): 401, the plugin runs again, the request goes through."""
    first_expiry = server.now() + 600
    server.issue_token("short-lived", "alice", expires_at=first_expiry)
    server.issue_token("renewed", "alice", expires_at=server.now() + 7200)
    plugin.serve(
        {"token": "short-lived", "expirationTimestamp": rfc3339(first_expiry)},
        {"token": "renewed", "expirationTimestamp": rfc3339(server.now() + 7200)},
    )
    kubeconfig = write_kubeconfig(
        tmp_path / "kubeconfig", server, {"exec": plugin.section(api_version=V1BETA1)}
    )
    client = KubeClient(from_kubeconfig(str(kubeconfig)), retries=0)
    assert client.get("/api/v1/nodes")["items"]
    assert len(plugin.runs()) == 1
    server.advance_clock(3600)
    server.clear_requests()
    assert client.get("/api/v1/nodes")["items"]
    assert len(plugin.runs()) == 2
    assert bearer(server) == ["Bearer short-lived", "Bearer renewed"]

    server.revoke_token("renewed")  # once only: a second 401 is the answer
    with pytest.raises(Unauthorized):
        client.get("/api/v1/nodes")
    assert len(plugin.runs()) == 3

    plugin.forget_runs()
    server.issue_token("renewed", "alice")
    kubectl_lists_configmaps(kubeconfig)  # kubectl gets "short-lived" (401), then "renewed"
    assert len(plugin.runs()) >= 2


def test_token_renewed_before_it_expires(
    server: FakeApiServer, plugin: Plugin, tmp_path: Path
) -> None:
    expiry = server.now() + 600
    server.issue_token("t1", "alice")
    server.issue_token("t2", "alice")
    plugin.serve(
        {"token": "t1", "expirationTimestamp": rfc3339(expiry)},
        {"token": "t2", "expirationTimestamp": rfc3339(expiry + 3600)},
    )
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server, {"exec": plugin.section()})
    config = from_kubeconfig(str(kubeconfig))
    assert config.exec_plugin is not None
    clock = [datetime.now(timezone.utc)]
    source = ExecCredentialSource(config.exec_plugin, now=lambda: clock[0])
    client = KubeClient(config, exec_credentials=source, retries=0)
    client.get("/api/v1/nodes")
    client.get("/api/v1/nodes")
    assert source.runs == 1
    clock[0] = datetime.fromtimestamp(expiry - 5, timezone.utc)  # inside the renewal margin
    client.get("/api/v1/nodes")
    assert source.runs == 2
    assert bearer(server) == ["Bearer t1", "Bearer t1", "Bearer t2"]  # never a 401


def test_client_certificate_from_a_plugin(
    server: FakeApiServer, plugin: Plugin, tmp_path: Path
) -> None:
    assert server.certs is not None
    cert, key = issue_client_cert(server.certs, tmp_path / "pki", "carol", ["ops"])
    plugin.serve({"clientCertificateData": cert.read_text(), "clientKeyData": key.read_text()})
    server.deny("list", "configmaps", NS, user="carol")
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server, {"exec": plugin.section()})
    client = KubeClient(from_kubeconfig(str(kubeconfig)), retries=0)
    assert client.get("/api/v1/nodes")["items"]  # authenticated by the certificate alone
    assert bearer(server) == [""]
    with pytest.raises(Forbidden, match='User "carol" cannot list'):
        list(client.list(configmap_path(NS)))
    done = kubectl(kubeconfig, "get", "configmaps", "-n", NS)
    assert done.returncode != 0 and 'User "carol" cannot list' in done.stderr
    assert kubectl(kubeconfig, "get", "nodes", "-o", "name").stdout.split() == ["node/worker-0"]


def test_missing_plugin_shows_the_install_hint(
    server: FakeApiServer, tmp_path: Path, capsys: Any
) -> None:
    hint = "oc-oidc is part of oc 4.15+: https://mirror.openshift.com/pub/openshift-v4/clients/"
    user = {"exec": {"apiVersion": V1, "command": "oc-oidc-not-installed", "args": ["get-token"],
                     "interactiveMode": "Never", "installHint": hint}}  # fmt: skip
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server, user)
    with pytest.raises(ExecPluginError) as caught:
        KubeClient(from_kubeconfig(str(kubeconfig)), retries=0).get("/api/v1/nodes")
    assert "oc-oidc-not-installed" in caught.value.message
    assert caught.value.hint == hint

    code = main(["collect", "--kubeconfig", str(kubeconfig), "-n", NS])
    err = capsys.readouterr().err
    assert code != 0 and hint in err and "Traceback" not in err

    done = kubectl(kubeconfig, "get", "nodes")
    assert done.returncode != 0 and hint in done.stderr  # kubectl says the same


def test_hanging_plugin_is_stopped(server: FakeApiServer, plugin: Plugin, tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server, {"exec": plugin.section("hang")})
    config = from_kubeconfig(str(kubeconfig))
    assert config.exec_plugin is not None
    source = ExecCredentialSource(config.exec_plugin, timeout=1)
    with pytest.raises(ExecPluginError, match=r"did not finish within 1s and was stopped"):
        KubeClient(config, exec_credentials=source, retries=0).get("/api/v1/nodes")
    (run,) = plugin.runs()
    assert not psutil.pid_exists(run["pid"]) or psutil.Process(run["pid"]).status() == "zombie"
    assert server.requests == []  # nothing was sent without a credential


def test_failing_plugin_shows_its_stderr_and_never_its_stdout(
    server: FakeApiServer, plugin: Plugin, tmp_path: Path, capsys: Any
) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server, {"exec": plugin.section("fail")})
    with pytest.raises(ExecPluginError) as failed:
        KubeClient(from_kubeconfig(str(kubeconfig)), retries=0).get("/api/v1/nodes")
    assert "exit status 1" in failed.value.message
    assert "the refresh token has expired\nrun oc login again" in failed.value.message
    # passed through as it came, as client-go does (a login URL to open must be seen)
    assert "the refresh token has expired\nrun oc login again\n" in capsys.readouterr().err

    kubeconfig = write_kubeconfig(
        tmp_path / "kubeconfig", server, {"exec": plugin.section("garbage")}
    )
    with pytest.raises(ExecPluginError) as garbage:
        KubeClient(from_kubeconfig(str(kubeconfig)), retries=0).get("/api/v1/nodes")
    assert "no ExecCredential JSON" in garbage.value.message
    assert "sekrit" not in f"{garbage.value.message} {garbage.value.hint}"


def test_relative_plugin_command_is_resolved_against_the_kubeconfig(
    server: FakeApiServer, plugin: Plugin, tmp_path: Path
) -> None:
    server.issue_token("from-relative", "alice")
    plugin.serve({"token": "from-relative"})
    folder = tmp_path / "conf"
    (folder / "bin").mkdir(parents=True)
    shim = folder / "bin" / "get-token"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} {PLUGIN} {plugin.state} serve\n")
    shim.chmod(0o755)
    user = {"exec": {"apiVersion": V1, "command": "./bin/get-token", "interactiveMode": "Never"}}
    kubeconfig = write_kubeconfig(folder / "kubeconfig", server, user)
    agent_lists_configmaps(kubeconfig)
    kubectl_lists_configmaps(kubeconfig)


# --- interactive plugins --------------------------------------------------------------------

_AGENT_ON_A_TERMINAL = """
import sys
from agent.kube.client import KubeClient
from agent.kube.config import from_kubeconfig
client = KubeClient(from_kubeconfig(sys.argv[1]), retries=0)
print("nodes:", len(client.get("/api/v1/nodes")["items"]), flush=True)
"""


def on_a_terminal(argv: list[str], answer: str, home: Path) -> tuple[int, str]:
    """Run ``argv`` with a pseudo-terminal as stdin, stdout and stderr; type ``answer``
    each time it asks for a password; everything it wrote, and its exit status."""
    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "HOME": str(home)}
    env.pop("HTTPS_PROXY", None)
    child = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                             start_new_session=True)  # fmt: skip
    os.close(slave)
    output = b""
    answered = 0
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 60)
            if not ready:
                break  # stuck: the assertions below say so
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not chunk:
                break
            output += chunk
            while output.count(b"Password: ") > answered:
                os.write(master, answer.encode() + b"\n")
                answered += 1
        child.kill() if child.poll() is None else None
        return child.wait(timeout=60), output.decode(errors="replace")
    finally:
        os.close(master)


def test_interactive_plugin_reads_the_terminal(
    server: FakeApiServer, plugin: Plugin, tmp_path: Path
) -> None:
    server.issue_token("typed", "alice")
    plugin.serve({"token": "typed"})
    (plugin.state / "password").write_text("hunter2")
    kubeconfig = write_kubeconfig(
        tmp_path / "kubeconfig", server,
        {"exec": plugin.section("prompt", interactiveMode="IfAvailable")},
    )  # fmt: skip
    agent = [sys.executable, "-c", _AGENT_ON_A_TERMINAL, str(kubeconfig)]
    code, output = on_a_terminal(agent, "hunter2", tmp_path)
    assert code == 0, output
    assert "Password: " in output and "nodes: 1" in output
    (run,) = plugin.runs()
    assert run["stdin_tty"] is True and run["info"]["spec"]["interactive"] is True

    plugin.forget_runs()
    code, output = on_a_terminal(
        [KUBECTL, "--kubeconfig", str(kubeconfig), "get", "nodes", "-o", "name"],
        "hunter2",
        tmp_path,
    )
    assert code == 0, output
    assert "node/worker-0" in output


def test_interactive_modes_without_a_terminal(
    server: FakeApiServer, plugin: Plugin, tmp_path: Path
) -> None:
    """Under pytest stdin is not a terminal: Always is refused before the plugin runs,
    IfAvailable and Never run it without stdin."""
    server.issue_token("t", "alice")
    plugin.serve({"token": "t"})
    always = write_kubeconfig(
        tmp_path / "always", server, {"exec": plugin.section(interactiveMode="Always")}
    )
    with pytest.raises(ExecPluginError, match="standard input is not a terminal"):
        KubeClient(from_kubeconfig(str(always)), retries=0).get("/api/v1/nodes")
    assert plugin.runs() == []
    done = kubectl(always, "get", "nodes")
    assert done.returncode != 0 and "standard input is not a terminal" in done.stderr

    for mode in ("IfAvailable", "Never"):
        plugin.forget_runs()
        path = write_kubeconfig(
            tmp_path / mode, server, {"exec": plugin.section(interactiveMode=mode)}
        )
        KubeClient(from_kubeconfig(str(path)), retries=0).get("/api/v1/nodes")
        (run,) = plugin.runs()
        assert run["stdin_tty"] is False and run["info"]["spec"]["interactive"] is False


# --- kubeconfig fields ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "field", "words"),
    [
        ({"username": "admin", "password": "p"}, "username", "basic authentication"),
        ({"auth-provider": {"name": "oidc"}}, "auth-provider", "exec credential plugin"),
        ({"exec": {"apiVersion": "client.authentication.k8s.io/v1alpha1", "command": "x"}},
         "exec.apiVersion", "v1alpha1 was removed"),
        ({"exec": {"apiVersion": V1, "command": "x"}}, "exec.interactiveMode", "must be set"),
        ({"exec": {"apiVersion": V1, "interactiveMode": "Never"}}, "exec.command", "missing"),
        ({"exec": {"apiVersion": V1, "command": "x", "interactiveMode": "Sometimes"}},
         "exec.interactiveMode", "Never, IfAvailable, Always"),
        ({"token": "t", "as-groups": ["g"]}, "without impersonating a user", "--as"),
    ],
)  # fmt: skip
def test_refused_fields_are_named(
    server: FakeApiServer, tmp_path: Path, user: dict[str, Any], field: str, words: str
) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server, user)
    with pytest.raises(KubeConfigError) as caught:
        from_kubeconfig(str(kubeconfig))
    text = f"{caught.value.message} {caught.value.hint}"
    assert field in text and words in text and "user 'u'" in text
    assert "'p'" not in text  # the password is named as a field, never shown


def test_tls_server_name(tmp_path: Path) -> None:
    """The server listens on 127.0.0.2, which its certificate does not name: only with
    tls-server-name (a name it does carry) is it trusted, by kubectl and by the agent."""
    with FakeApiServer(token="t", host="127.0.0.2") as server:
        server.add_namespace(NS)
        server.put({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "probe", "namespace": NS}})  # fmt: skip
        plain = write_kubeconfig(tmp_path / "plain", server, {"token": "t"})
        with pytest.raises(Unreachable, match=r"127\.0\.0\.2"):
            agent_lists_configmaps(plain)
        assert kubectl(plain, "get", "configmaps", "-n", NS).returncode != 0
        named = write_kubeconfig(
            tmp_path / "named", server, {"token": "t"}, **{"tls-server-name": "kubernetes"}
        )
        agent_lists_configmaps(named)
        kubectl_lists_configmaps(named)
        wrong = write_kubeconfig(
            tmp_path / "wrong", server, {"token": "t"}, **{"tls-server-name": "api.other"}
        )
        with pytest.raises(Unreachable):
            agent_lists_configmaps(wrong)


def test_disable_compression(server: FakeApiServer, tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(
        tmp_path / "kubeconfig", server, {"token": "primary-token"},
        **{"disable-compression": True},
    )  # fmt: skip
    agent_lists_configmaps(kubeconfig)
    assert {r.headers.get("accept-encoding") for r in server.requests} == {"identity"}
    kubectl_lists_configmaps(kubeconfig)
    assert "gzip" not in (server.requests[-1].headers.get("accept-encoding") or "")


# --- proxies ---------------------------------------------------------------------------------


def behind_jump_host(server: FakeApiServer) -> str:
    """The API's URL by a name only the proxy resolves (in its certificate's names)."""
    return f"https://kubernetes.default.svc:{server.port}"


def test_proxy_url(server: FakeApiServer, tmp_path: Path) -> None:
    with ConnectProxy({"kubernetes.default.svc": "127.0.0.1"}) as proxy:
        kubeconfig = write_kubeconfig(
            tmp_path / "kubeconfig", server, {"token": "primary-token"},
            url=behind_jump_host(server), **{"proxy-url": proxy.url},
        )  # fmt: skip
        # the environment's proxy is not the cluster's: proxy-url wins
        dead = {"HTTPS_PROXY": "http://127.0.0.1:9"}
        agent_lists_configmaps(kubeconfig, env=dead)
        assert proxy.tunnels and set(proxy.tunnels) == {f"kubernetes.default.svc:{server.port}"}
        before = len(proxy.tunnels)
        kubectl_lists_configmaps(kubeconfig, env=dead)
        assert len(proxy.tunnels) > before


def test_proxy_url_with_credentials_and_tls(server: FakeApiServer, tmp_path: Path) -> None:
    """An https:// proxy (trusted through the cluster's CA, as Go does) that wants a
    user and password; the password never shows in an error."""
    assert server.certs is not None
    hosts = {"kubernetes.default.svc": "127.0.0.1"}
    with ConnectProxy(hosts, credentials=("jump", "s3cret"), certs=server.certs) as proxy:
        good = f"https://jump:s3cret@127.0.0.1:{proxy.port}"
        kubeconfig = write_kubeconfig(
            tmp_path / "kubeconfig", server, {"token": "primary-token"},
            url=behind_jump_host(server), **{"proxy-url": good},
        )  # fmt: skip
        agent_lists_configmaps(kubeconfig)
        kubectl_lists_configmaps(kubeconfig)
        assert len(proxy.tunnels) >= 2 and not proxy.refused
        bad = write_kubeconfig(
            tmp_path / "bad", server, {"token": "primary-token"},
            url=behind_jump_host(server),
            **{"proxy-url": f"https://jump:wrong-pw@127.0.0.1:{proxy.port}"},
        )  # fmt: skip
        with pytest.raises(Unreachable) as caught:
            agent_lists_configmaps(bad)
        assert "wrong-pw" not in str(caught.value) and proxy.refused


def test_https_proxy_and_no_proxy_from_the_environment(
    server: FakeApiServer, tmp_path: Path
) -> None:
    with ConnectProxy({"kubernetes.default.svc": "127.0.0.1"}) as proxy:
        kubeconfig = write_kubeconfig(
            tmp_path / "kubeconfig", server, {"token": "primary-token"},
            url=behind_jump_host(server),
        )  # fmt: skip
        env = {"HTTPS_PROXY": f"127.0.0.1:{proxy.port}", "NO_PROXY": "localhost,.example.com"}
        agent_lists_configmaps(kubeconfig, env)
        kubectl_lists_configmaps(kubeconfig, env)
        assert len(set(proxy.tunnels)) == 1 and len(proxy.tunnels) >= 2

        # NO_PROXY names the cluster's domain: both go direct, and cannot resolve the name
        tunnels = len(proxy.tunnels)
        env["NO_PROXY"] = "10.0.0.0/8,svc"
        with pytest.raises(Unreachable, match=r"kubernetes\.default\.svc"):
            agent_lists_configmaps(kubeconfig, env)
        done = kubectl(kubeconfig, "get", "configmaps", "-n", NS, env=env)
        assert done.returncode != 0 and "kubernetes.default.svc" in done.stderr
        assert len(proxy.tunnels) == tunnels

    # a loopback server is never proxied by the environment (Go's rule)
    direct = write_kubeconfig(tmp_path / "direct", server, {"token": "primary-token"})
    agent_lists_configmaps(direct, {"HTTPS_PROXY": "http://127.0.0.1:9"})
    kubectl_lists_configmaps(direct, {"HTTPS_PROXY": "http://127.0.0.1:9"})


def test_socks_proxy_needs_pysocks(server: FakeApiServer, tmp_path: Path) -> None:
    """PySocks is not a dependency: without it a socks5 proxy-url is a clear error; with
    it (pip install 'requests[socks]') the proxy resolves the API's name (socks5h)."""
    import importlib.util

    kubeconfig = write_kubeconfig(
        tmp_path / "kubeconfig", server, {"token": "t"}, **{"proxy-url": "socks5://127.0.0.1:1080"}
    )
    if importlib.util.find_spec("socks") is not None:
        assert from_kubeconfig(str(kubeconfig)).proxy_url == "socks5h://127.0.0.1:1080"
        return
    with pytest.raises(KubeConfigError, match="PySocks") as caught:
        from_kubeconfig(str(kubeconfig))
    assert "requests[socks]" in str(caught.value.hint)


# --- impersonation ---------------------------------------------------------------------------


def test_impersonation_from_the_kubeconfig(server: FakeApiServer, tmp_path: Path) -> None:
    user = {
        "token": "primary-token",
        "as": "bob",
        "as-groups": ["devs", "release team"],
        "as-uid": "1234",
        "as-user-extra": {"reason": ["upgrade check", "ticket 42"], "scopes.example/x%y": ["a"]},
    }
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server, user)
    with pytest.raises(Forbidden, match='cannot impersonate resource "users"'):
        agent_lists_configmaps(kubeconfig)
    # kubectl's discovery client prints "Forbidden: unknown" for this, as against a real
    # server; its raw client shows the message
    done = kubectl(kubeconfig, "get", "--raw", f"/api/v1/namespaces/{NS}/configmaps")
    assert done.returncode != 0
    assert 'users "bob" is forbidden' in done.stderr
    assert 'cannot impersonate resource "users"' in done.stderr

    server.allow_impersonation(server.user, "users", "bob")
    server.allow_impersonation(server.user, "groups")
    server.allow_impersonation(server.user, "uids", "1234")
    with pytest.raises(Forbidden, match='resource "userextras/reason"'):
        agent_lists_configmaps(kubeconfig)
    server.allow_impersonation(server.user, "userextras/reason")
    server.allow_impersonation(server.user, "userextras/scopes.example/x%y")
    server.clear_requests()
    agent_lists_configmaps(kubeconfig)
    lines = [(k, v) for k, v in server.requests[-1].header_list if k.startswith("impersonate")]
    assert sorted(lines) == sorted([
        ("impersonate-user", "bob"), ("impersonate-uid", "1234"),
        ("impersonate-group", "devs"), ("impersonate-group", "release team"),
        ("impersonate-extra-reason", "upgrade check"), ("impersonate-extra-reason", "ticket 42"),
        ("impersonate-extra-scopes.example%2fx%25y", "a"),
    ])  # fmt: skip
    kubectl_lists_configmaps(kubeconfig)
    kubectl_lines = [
        (k, v) for k, v in server.requests[-1].header_list if k.startswith("impersonate")
    ]
    assert sorted(kubectl_lines) == sorted(lines)  # the same headers, escaped the same way

    # the request runs as bob: bob's denials apply, the caller's do not
    server.deny("list", "configmaps", NS, user="bob")
    with pytest.raises(Forbidden, match='User "bob" cannot list'):
        agent_lists_configmaps(kubeconfig)
    assert 'User "bob" cannot list' in kubectl(kubeconfig, "get", "cm", "-n", NS).stderr


def test_as_flags_on_the_workstation_commands(
    server: FakeApiServer, tmp_path: Path, capsys: Any
) -> None:
    kubeconfig = write_kubeconfig(
        tmp_path / "kubeconfig", server, {"token": "primary-token", "as": "kubeconfig-user"}
    )
    config = from_kubeconfig(
        str(kubeconfig), impersonate=ImpersonationFlags(user="ops", groups=["g1", "g2"])
    )
    assert config.impersonation is not None
    assert (config.impersonation.user, config.impersonation.groups) == ("ops", ("g1", "g2"))

    server.allow_impersonation(server.user, "users", "ops")
    server.allow_impersonation(server.user, "groups", "g1")
    server.deny("list", "configmaps", None, user="ops")  # the reports' namespace and NS
    code = main(["collect", "--kubeconfig", str(kubeconfig), "-n", NS,
                 "--as", "ops", "--as-group", "g1"])  # fmt: skip
    err = capsys.readouterr().err
    assert code != 0
    assert 'User "ops" cannot list' in err
    sent = [(k, v) for k, v in server.requests[-1].header_list if k.startswith("impersonate")]
    assert sorted(sent) == [("impersonate-group", "g1"), ("impersonate-user", "ops")]
    done = kubectl(kubeconfig, "get", "cm", "-n", NS, "--as", "ops", "--as-group", "g1")
    assert 'User "ops" cannot list' in done.stderr


def test_as_flags_on_the_checklist_commands(
    server: FakeApiServer, tmp_path: Path, capsys: Any
) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server, {"token": "primary-token"})
    cleanup = ["checklist", "cleanup", "--kubeconfig", str(kubeconfig), "--as", "ops"]
    assert main([*cleanup, "--as-uid", "9"]) != 0  # ops may not be impersonated yet
    server.allow_impersonation(server.user, "users", "ops")
    server.allow_impersonation(server.user, "uids", "9")
    capsys.readouterr()
    server.clear_requests()
    assert main([*cleanup, "--as-uid", "9"]) == 0
    assert "nothing to remove" in capsys.readouterr().out

    main(["checklist", "post-upgrade", "--kubeconfig", str(kubeconfig), "--as", "ops",
          "--as-uid", "9"])  # fmt: skip
    capsys.readouterr()
    assert server.requests
    for request in server.requests:  # every request of both commands, as ops
        assert request.headers.get("impersonate-user") == "ops"
        assert request.headers.get("impersonate-uid") == "9"
