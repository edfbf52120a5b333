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
import binascii
import importlib.util
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

from agent.documents import DocumentError, parse_yaml
from agent.errors import AgentError
from agent.kube.contract import REPORT_SELECTOR, reports_namespace
from agent.kube.exec_plugin import API_VERSIONS, EXEC_EXTENSION, ExecConfig, InteractiveMode
from agent.kube.proxy import PROXY_SCHEMES
from agent.kube.secret_files import secret_file
from agent.safe_read import KUBECONFIG_LIMIT, SMALL_FILE_LIMIT, UnsafeFile, read_bytes, read_text

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_NAMESPACE = "mirror-agent"  # where the manifests in daemonset/ install the agent
# The reports live in their own namespace (agent.kube.contract.reports_namespace).
FROM_FILE_HINT = (
    f"or fetch the reports yourself: oc get configmaps -n {reports_namespace(DEFAULT_NAMESPACE)} "
    f"-l {REPORT_SELECTOR} -o json | agent collect --from-file -"
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
    try:
        namespace = (
            read_text(namespace_file, limit=SMALL_FILE_LIMIT, missing_ok=True) or ""
        ).strip()
    except UnsafeFile as exc:
        raise KubeConfigError(exc.message) from None
    server_host = f"[{host}]" if ":" in host else host
    return ClusterConfig(
        server=f"https://{server_host}:{port}",
        verify=str(ca_file) if ca_file.is_file() else True,
        token_file=str(token_file),
        namespace=namespace or env.get("POD_NAMESPACE"),
        source=f"in-cluster service account ({account_dir})",
    )


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        text = read_text(path, limit=KUBECONFIG_LIMIT, shown=f"kubeconfig {path}")
        document = parse_yaml(text or "", f"kubeconfig {path}")
    except UnsafeFile as exc:
        raise KubeConfigError(exc.message, hint=exc.hint) from None
    except DocumentError as exc:
        raise KubeConfigError(str(exc)) from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise KubeConfigError(f"kubeconfig {path} is not a mapping (it is {_type_name(document)})")
    return document


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _field(container: dict[str, Any], key: str, kind: type, where: str, default: Any = None) -> Any:
    """``container[key]`` when it is a ``kind`` (None/absent: ``default``); else an error
    naming the file and the field."""
    value = container.get(key)
    if value is None:
        return default
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # YAML reads a name like 1234 as a number; kubectl quotes it
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        expected = {str: "a string", dict: "a mapping", list: "a list", bool: "a boolean"}[kind]
        raise KubeConfigError(f"{where}: {key} must be {expected}, not {_type_name(value)}")
    return value


def _named(
    documents: list[tuple[Path, dict[str, Any]]], section: str
) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Merge a named list across files: the first file that defines a name wins."""
    merged: dict[str, tuple[Path, dict[str, Any]]] = {}
    inner = section[:-1]  # clusters -> cluster
    for path, document in documents:
        items = _field(document, section, list, f"kubeconfig {path}", [])
        for number, item in enumerate(items):
            where = f"kubeconfig {path}: {section}[{number}]"
            if not isinstance(item, dict):
                raise KubeConfigError(f"{where} must be a mapping, not {_type_name(item)}")
            name = _field(item, "name", str, where)
            if name is not None and name not in merged:
                merged[name] = (path, _field(item, inner, dict, f"{where} ({name})", {}))
    return merged


def kubeconfig_paths(explicit: Optional[str], env: Mapping[str, str] = os.environ) -> list[Path]:
    if explicit:
        return [Path(explicit)]
    if env.get("KUBECONFIG"):
        return [Path(part) for part in env["KUBECONFIG"].split(os.pathsep) if part]
    return [Path(env.get("HOME", "~")).expanduser() / ".kube" / "config"]


def _materialise(data: str, suffix: str, where: str) -> str:
    """``*-data`` fields are base64 PEM; requests wants files (kept in memory). ``where``
    names the field when the data is not base64."""
    try:
        content = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise KubeConfigError(f"{where}: not valid base64") from None
    return secret_file(content, suffix)


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
    name = _field(user, "as", str, where) or None
    groups = _field(user, "as-groups", list, where, [])
    uid = _field(user, "as-uid", str, where) or None
    extra = _field(user, "as-user-extra", dict, where, {})
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
        raise KubeConfigError(f"{where} must be a mapping, not {_type_name(section)}")
    api_version = _field(section, "apiVersion", str, where)
    if api_version not in API_VERSIONS:
        raise KubeConfigError(
            f"{where}.apiVersion {api_version!r} is not supported",
            hint=f"use {' or '.join(API_VERSIONS)} (v1alpha1 was removed in Kubernetes 1.24)",
        )
    command = _field(section, "command", str, where)
    if not command:
        raise KubeConfigError(f"{where}.command is missing")
    if os.sep in command and not os.path.isabs(command):
        command = str(kubeconfig.parent / command)
    args = _field(section, "args", list, where, [])
    if not all(isinstance(a, str) for a in args):
        raise KubeConfigError(f"{where}.args must be a list of strings")
    env: list[tuple[str, str]] = []
    for index, entry in enumerate(_field(section, "env", list, where, [])):
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("name"), str)
            or not isinstance(entry.get("value"), str)
        ):
            raise KubeConfigError(f"{where}.env[{index}] needs a name and a string value")
        env.append((entry["name"], entry["value"]))
    mode = _field(section, "interactiveMode", str, where)
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
        install_hint=_field(section, "installHint", str, where, ""),
        interactive_mode=modes[mode],
        cluster_info=(
            cluster_info if _field(section, "provideClusterInfo", bool, where, False) else None
        ),
    )


def _exec_cluster_info(
    cluster: dict[str, Any], ca_file: Optional[str], where: str
) -> dict[str, Any]:
    """``spec.cluster`` of KUBERNETES_EXEC_INFO, as client-go fills it (the fields were
    type-checked by the caller)."""
    info: dict[str, Any] = {"server": cluster.get("server")}
    for key in ("tls-server-name", "insecure-skip-tls-verify", "proxy-url", "disable-compression"):
        if cluster.get(key):
            info[key] = cluster[key]
    if cluster.get("certificate-authority-data"):
        info["certificate-authority-data"] = cluster["certificate-authority-data"]
    elif ca_file:
        try:
            pem = read_bytes(ca_file, limit=KUBECONFIG_LIMIT) or b""
        except UnsafeFile as exc:
            raise KubeConfigError(exc.message, hint=exc.hint) from None
        info["certificate-authority-data"] = base64.b64encode(pem).decode()
    for extension in _field(cluster, "extensions", list, where, []):
        if isinstance(extension, dict) and extension.get("name") == EXEC_EXTENSION:
            info["config"] = extension.get("extension")
    return info


def _proxy_url(value: Optional[str], where: str) -> Optional[str]:
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
        (
            name
            for path, doc in documents
            if (name := _field(doc, "current-context", str, f"kubeconfig {path}"))
        ),
        None,
    )
    if not current:
        raise KubeConfigError("the kubeconfig has no current-context; pass --context")
    contexts = _named(documents, "contexts")
    if current not in contexts:
        raise KubeConfigError(f"context {current!r} is not in the kubeconfig")
    context_path, ctx = contexts[current]
    at_context = f"kubeconfig {context_path}: context {current!r}"
    cluster_name = _field(ctx, "cluster", str, at_context, "")
    user_name = _field(ctx, "user", str, at_context, "")
    namespace = _field(ctx, "namespace", str, at_context)
    cluster_path, cluster = _named(documents, "clusters").get(cluster_name, (None, None))
    if cluster is None or cluster_path is None:
        raise KubeConfigError(
            f"context {current!r} names cluster {cluster_name!r}, which is not defined"
        )
    user_path, user = _named(documents, "users").get(user_name, (cluster_path, {}))
    at_cluster = f"kubeconfig {cluster_path}: cluster {cluster_name!r}"
    at_user = f"kubeconfig {user_path}: user {user_name!r}"

    for key, why in _REFUSED_USER_FIELDS.items():
        if user.get(key):
            raise KubeConfigError(
                f"{at_user} uses {key}, which mirror-agent does not support: {why}",
                hint=FROM_FILE_HINT,
            )

    def resolve(path: str, base: Path) -> str:
        return str(path if os.path.isabs(path) else (base.parent / path))

    def text(container: dict[str, Any], key: str, where: str) -> Optional[str]:
        value: Optional[str] = _field(container, key, str, where)
        return value or None

    verify: bool | str = True
    ca_data = text(cluster, "certificate-authority-data", at_cluster)
    ca_file = text(cluster, "certificate-authority", at_cluster)
    if _field(cluster, "insecure-skip-tls-verify", bool, at_cluster, False):
        verify = False
    elif ca_data:
        verify = _materialise(ca_data, ".crt", f"{at_cluster}: certificate-authority-data")
    elif ca_file:
        verify = ca_file = resolve(ca_file, cluster_path)

    client_cert = None
    cert_data = text(user, "client-certificate-data", at_user)
    cert_file = text(user, "client-certificate", at_user)
    key_data = text(user, "client-key-data", at_user)
    key_file = text(user, "client-key", at_user)
    if cert_data or cert_file:
        cert = (
            _materialise(cert_data, ".crt", f"{at_user}: client-certificate-data")
            if cert_data
            else resolve(cert_file or "", user_path)
        )
        if key_data:
            key = _materialise(key_data, ".key", f"{at_user}: client-key-data")
        elif key_file:
            key = resolve(key_file, user_path)
        else:
            raise KubeConfigError(f"user {user_name!r} has a client certificate but no key")
        client_cert = (cert, key)
    token_file = text(user, "tokenFile", at_user)
    token = text(user, "token", at_user)
    if token and not token.isprintable():
        raise KubeConfigError(f"{at_user}: token holds control characters or line breaks")
    server = text(cluster, "server", at_cluster)
    if not server:
        raise KubeConfigError(f"{at_cluster} has no server")
    exec_plugin = None
    if user.get("exec") is not None:
        exec_plugin = parse_exec(
            user_name, user["exec"], user_path, _exec_cluster_info(cluster, ca_file, at_cluster)
        )
    return ClusterConfig(
        server=str(server).rstrip("/"),
        verify=verify,
        token=token,
        token_file=resolve(token_file, user_path) if token_file else None,
        client_cert=client_cert,
        namespace=namespace,
        source=f"kubeconfig {', '.join(map(str, existing))} (context {current})",
        exec_plugin=exec_plugin,
        proxy_url=_proxy_url(text(cluster, "proxy-url", at_cluster), at_cluster),
        tls_server_name=text(cluster, "tls-server-name", at_cluster),
        disable_compression=_field(cluster, "disable-compression", bool, at_cluster, False),
        impersonation=_impersonation(user, impersonate, at_user),
    )
