"""Where the Kubernetes API is and how to authenticate: in-cluster or kubeconfig.

In-cluster: the service-account token and CA under
``/var/run/secrets/kubernetes.io/serviceaccount`` and ``KUBERNETES_SERVICE_HOST``/``_PORT``.
Kubeconfig: ``KUBECONFIG`` (several files, merged as kubectl merges them: the first file
to define a name or the current context wins), the current context or ``--context``,
bearer tokens (what ``oc login`` writes), token files, client certificates (the
installer's admin kubeconfig), ``exec`` credential plugins (:mod:`agent.kube.exec_plugin`),
CA data or files (relative paths against the kubeconfig's folder),
``insecure-skip-tls-verify``, ``tls-server-name``, ``proxy-url`` (:mod:`agent.kube.proxy`),
``disable-compression`` and impersonation (``as``, ``as-groups``, ``as-uid``,
``as-user-extra``, or ``--as``/``--as-group``/``--as-uid``). Basic auth and
``auth-provider``, which current clients no longer support either, are named in a clear
error.
"""

from __future__ import annotations

import base64
import importlib.util
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

from agent.errors import AgentError
from agent.kube.exec_plugin import API_VERSIONS, EXEC_EXTENSION, ExecConfig, InteractiveMode
from agent.kube.proxy import PROXY_SCHEMES
from agent.kube.secret_files import secret_file

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_NAMESPACE = "mirror-agent"  # where the manifests in daemonset/ install the agent
FROM_FILE_HINT = (
    "or fetch the reports yourself: oc get configmaps -n mirror-agent "
    "-l app.kubernetes.io/component=report -o json | agent collect --from-file -"
)


class KubeConfigError(AgentError):
    """The API's location or credentials cannot be worked out."""


@dataclass(frozen=True)
class Impersonation:
    """Whom requests act as (the ``Impersonate-*`` headers); the caller needs the
    ``impersonate`` verb on users, groups, uids and userextras."""

    user: str
    groups: tuple[str, ...] = ()
    uid: Optional[str] = None
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class ClusterConfig:
    server: str  # https://host:port
    verify: bool | str = True  # CA bundle path, True (system CAs) or False (insecure)
    token: Optional[str] = field(default=None, repr=False)
    token_file: Optional[str] = None  # re-read when it changes (tokens rotate hourly)
    client_cert: Optional[tuple[str, str]] = None  # (certificate file, key file)
    namespace: Optional[str] = None
    source: str = ""  # where this came from, for messages
    exec_plugin: Optional[ExecConfig] = None  # run for a token or a client certificate
    proxy_url: Optional[str] = None  # the cluster's proxy-url (else HTTPS_PROXY/NO_PROXY)
    tls_server_name: Optional[str] = None  # SNI and certificate name, when not the host
    disable_compression: bool = False
    impersonation: Optional[Impersonation] = None


def in_cluster(
    env: Mapping[str, str] = os.environ, account_dir: Path = SERVICE_ACCOUNT
) -> ClusterConfig:
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise KubeConfigError(
            "not running in a pod: KUBERNETES_SERVICE_HOST is not set",
            hint="use --kubeconfig or KUBECONFIG outside the cluster",
        )
    token_file = account_dir / "token"
    if not token_file.is_file():
        raise KubeConfigError(f"no service-account token at {token_file}")
    ca_file = account_dir / "ca.crt"
    namespace_file = account_dir / "namespace"
    namespace = (
        namespace_file.read_text().strip() if namespace_file.is_file() else env.get("POD_NAMESPACE")
    )
    server_host = f"[{host}]" if ":" in host else host
    return ClusterConfig(
        server=f"https://{server_host}:{port}",
        verify=str(ca_file) if ca_file.is_file() else True,
        token_file=str(token_file),
        namespace=namespace or env.get("POD_NAMESPACE"),
        source=f"in-cluster service account ({account_dir})",
    )


def _load_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise KubeConfigError(f"cannot read kubeconfig {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise KubeConfigError(f"kubeconfig {path} is not valid YAML: {exc}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise KubeConfigError(f"kubeconfig {path} is not a mapping")
    return document


def _named(
    documents: list[tuple[Path, dict[str, Any]]], section: str
) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Merge a named list across files: the first file that defines a name wins."""
    merged: dict[str, tuple[Path, dict[str, Any]]] = {}
    inner = section[:-1]  # clusters -> cluster
    for path, document in documents:
        for item in document.get(section) or []:
            if isinstance(item, dict) and "name" in item and item["name"] not in merged:
                merged[item["name"]] = (path, item.get(inner) or {})
    return merged


def kubeconfig_paths(explicit: Optional[str], env: Mapping[str, str] = os.environ) -> list[Path]:
    if explicit:
        return [Path(explicit)]
    if env.get("KUBECONFIG"):
        return [Path(part) for part in env["KUBECONFIG"].split(os.pathsep) if part]
    return [Path(env.get("HOME", "~")).expanduser() / ".kube" / "config"]


def _materialise(data: str, suffix: str) -> str:
    """``*-data`` fields are base64 PEM; requests wants files (kept in memory)."""
    return secret_file(base64.b64decode(data), suffix)


#: user fields current clients removed, and what to use instead
_REFUSED_USER_FIELDS = {
    "username": "basic authentication was removed from kubectl (1.19) and the API server",
    "password": "basic authentication was removed from kubectl (1.19) and the API server",
    "auth-provider": "auth-provider plugins were removed from kubectl (1.26); "
    "use an exec credential plugin (e.g. kubelogin, oc login --exec-plugin)",
}


@dataclass(frozen=True)
class ImpersonationFlags:
    """``--as``, ``--as-group`` and ``--as-uid``: they replace the kubeconfig's."""

    user: Optional[str] = None
    groups: Sequence[str] = ()
    uid: Optional[str] = None


def _impersonation(
    user: dict[str, Any], flags: Optional[ImpersonationFlags], where: str
) -> Optional[Impersonation]:
    name = user.get("as") or None
    groups = user.get("as-groups") or []
    uid = user.get("as-uid") or None
    extra = user.get("as-user-extra") or {}
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise KubeConfigError(f"{where}: as-groups must be a list of strings")
    if not isinstance(extra, dict) or not all(
        isinstance(values, list) and all(isinstance(v, str) for v in values)
        for values in extra.values()
    ):
        raise KubeConfigError(f"{where}: as-user-extra must map names to lists of strings")
    if flags is not None:
        name = flags.user or name
        groups = list(flags.groups) or groups
        uid = flags.uid or uid
    if not name:
        if groups or uid or extra:
            raise KubeConfigError(  # client-go's words
                f"{where}: requesting uid, groups or user-extra without impersonating a user",
                hint="name the user to act as: as in the kubeconfig, or --as",
            )
        return None
    return Impersonation(
        user=str(name),
        groups=tuple(groups),
        uid=str(uid) if uid else None,
        extra=tuple((str(k), tuple(v)) for k, v in sorted(extra.items())),
    )


def parse_exec(
    user: str, section: Any, kubeconfig: Path, cluster_info: Optional[dict[str, Any]]
) -> ExecConfig:
    """Validate ``users[].user.exec`` as client-go does; relative commands that contain a
    slash are resolved against the kubeconfig's folder."""
    where = f"kubeconfig {kubeconfig}: user {user!r}: exec"
    if not isinstance(section, dict):
        raise KubeConfigError(f"{where} must be a mapping")
    api_version = section.get("apiVersion")
    if api_version not in API_VERSIONS:
        raise KubeConfigError(
            f"{where}.apiVersion {api_version!r} is not supported",
            hint=f"use {' or '.join(API_VERSIONS)} (v1alpha1 was removed in Kubernetes 1.24)",
        )
    command = section.get("command")
    if not isinstance(command, str) or not command:
        raise KubeConfigError(f"{where}.command is missing")
    if os.sep in command and not os.path.isabs(command):
        command = str(kubeconfig.parent / command)
    args = section.get("args") or []
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise KubeConfigError(f"{where}.args must be a list of strings")
    env: list[tuple[str, str]] = []
    for index, entry in enumerate(section.get("env") or []):
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("name"), str)
            or not isinstance(entry.get("value"), str)
        ):
            raise KubeConfigError(f"{where}.env[{index}] needs a name and a string value")
        env.append((entry["name"], entry["value"]))
    mode = section.get("interactiveMode")
    if mode is None:
        if api_version.endswith("/v1"):
            raise KubeConfigError(
                f"{where}.interactiveMode must be set with {api_version}",
                hint="Never, IfAvailable or Always",
            )
        mode = "IfAvailable"
    modes: dict[str, InteractiveMode] = {
        "Never": "Never",
        "IfAvailable": "IfAvailable",
        "Always": "Always",
    }
    if mode not in modes:
        raise KubeConfigError(
            f"{where}.interactiveMode {mode!r} is not one of Never, IfAvailable, Always"
        )
    return ExecConfig(
        user=user,
        api_version=api_version,
        command=command,
        args=tuple(args),
        env=tuple(env),
        install_hint=str(section.get("installHint") or ""),
        interactive_mode=modes[mode],
        cluster_info=cluster_info if section.get("provideClusterInfo") else None,
    )


def _exec_cluster_info(cluster: dict[str, Any], ca_file: Optional[str]) -> dict[str, Any]:
    """``spec.cluster`` of KUBERNETES_EXEC_INFO, as client-go fills it."""
    info: dict[str, Any] = {"server": cluster.get("server")}
    for key in ("tls-server-name", "insecure-skip-tls-verify", "proxy-url", "disable-compression"):
        if cluster.get(key):
            info[key] = cluster[key]
    if cluster.get("certificate-authority-data"):
        info["certificate-authority-data"] = cluster["certificate-authority-data"]
    elif ca_file:
        try:
            pem = Path(ca_file).read_bytes()
            info["certificate-authority-data"] = base64.b64encode(pem).decode()
        except OSError as exc:
            raise KubeConfigError(f"cannot read {ca_file}: {exc.strerror or exc}") from None
    for extension in cluster.get("extensions") or []:
        if isinstance(extension, dict) and extension.get("name") == EXEC_EXTENSION:
            info["config"] = extension.get("extension")
    return info


def _proxy_url(value: Any, where: str) -> Optional[str]:
    if not value:
        return None
    scheme = urlsplit(str(value)).scheme
    if scheme not in PROXY_SCHEMES:
        raise KubeConfigError(
            f"{where}: proxy-url {value!r} has scheme {scheme!r}",
            hint=f"use one of {', '.join(PROXY_SCHEMES)}",
        )
    if scheme == "socks5":
        if importlib.util.find_spec("socks") is None:
            raise KubeConfigError(
                f"{where}: proxy-url {value!r} is a SOCKS proxy, which needs PySocks",
                hint="pip install 'requests[socks]' next to mirror-agent",
            )
        # socks5h: the proxy resolves the API's name, as Go's SOCKS dialer lets it
        return "socks5h" + str(value)[len("socks5") :]
    return str(value)


def from_kubeconfig(
    explicit: Optional[str] = None,
    context: Optional[str] = None,
    env: Mapping[str, str] = os.environ,
    impersonate: Optional[ImpersonationFlags] = None,
) -> ClusterConfig:
    paths = kubeconfig_paths(explicit, env)
    existing = [path for path in paths if path.is_file()]
    if not existing:
        raise KubeConfigError(
            f"no kubeconfig found (looked at {', '.join(map(str, paths))})",
            hint="log in with oc login, pass --kubeconfig, " + FROM_FILE_HINT,
        )
    documents = [(path, _load_yaml(path)) for path in existing]
    current = context or next(
        (doc.get("current-context") for _, doc in documents if doc.get("current-context")), None
    )
    if not current:
        raise KubeConfigError("the kubeconfig has no current-context; pass --context")
    contexts = _named(documents, "contexts")
    if current not in contexts:
        raise KubeConfigError(f"context {current!r} is not in the kubeconfig")
    _, ctx = contexts[current]
    cluster_path, cluster = _named(documents, "clusters").get(ctx.get("cluster", ""), (None, None))
    if cluster is None or cluster_path is None:
        raise KubeConfigError(
            f"context {current!r} names cluster {ctx.get('cluster')!r}, which is not defined"
        )
    user_name = str(ctx.get("user", ""))
    user_path, user = _named(documents, "users").get(user_name, (cluster_path, {}))
    user_where = f"kubeconfig {user_path}: user {user_name!r}"
    cluster_where = f"kubeconfig {cluster_path}: cluster {ctx.get('cluster')!r}"

    for key, why in _REFUSED_USER_FIELDS.items():
        if user.get(key):
            raise KubeConfigError(
                f"{user_where} uses {key}, which mirror-agent does not support: {why}",
                hint=FROM_FILE_HINT,
            )

    def resolve(path: str, base: Path) -> str:
        return str(path if os.path.isabs(path) else (base.parent / path))

    verify: bool | str = True
    ca_file: Optional[str] = None
    if cluster.get("insecure-skip-tls-verify"):
        verify = False
    elif cluster.get("certificate-authority-data"):
        verify = _materialise(cluster["certificate-authority-data"], ".crt")
    elif cluster.get("certificate-authority"):
        verify = ca_file = resolve(cluster["certificate-authority"], cluster_path)

    client_cert = None
    if user.get("client-certificate-data") or user.get("client-certificate"):
        cert = (
            _materialise(user["client-certificate-data"], ".crt")
            if user.get("client-certificate-data")
            else resolve(user["client-certificate"], user_path)
        )
        if user.get("client-key-data"):
            key = _materialise(user["client-key-data"], ".key")
        elif user.get("client-key"):
            key = resolve(user["client-key"], user_path)
        else:
            raise KubeConfigError(f"user {ctx.get('user')!r} has a client certificate but no key")
        client_cert = (cert, key)
    token_file = user.get("tokenFile")
    server = cluster.get("server")
    if not server:
        raise KubeConfigError(f"cluster {ctx.get('cluster')!r} has no server")
    exec_plugin = None
    if user.get("exec"):
        exec_plugin = parse_exec(
            user_name, user["exec"], user_path, _exec_cluster_info(cluster, ca_file)
        )
    return ClusterConfig(
        server=str(server).rstrip("/"),
        verify=verify,
        token=user.get("token"),
        token_file=resolve(token_file, user_path) if token_file else None,
        client_cert=client_cert,
        namespace=ctx.get("namespace"),
        source=f"kubeconfig {', '.join(map(str, existing))} (context {current})",
        exec_plugin=exec_plugin,
        proxy_url=_proxy_url(cluster.get("proxy-url"), cluster_where),
        tls_server_name=cluster.get("tls-server-name") or None,
        disable_compression=bool(cluster.get("disable-compression")),
        impersonation=_impersonation(user, impersonate, user_where),
    )
