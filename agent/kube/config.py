"""Where the Kubernetes API is and how to authenticate: in-cluster or kubeconfig.

In-cluster: the service-account token and CA under
``/var/run/secrets/kubernetes.io/serviceaccount`` and ``KUBERNETES_SERVICE_HOST``/``_PORT``.
Kubeconfig: ``KUBECONFIG`` (several files, merged as kubectl merges them: the first file
to define a name or the current context wins), the current context or ``--context``,
bearer tokens (what ``oc login`` writes), client certificates (the installer's admin
kubeconfig), CA data or files (relative paths against the kubeconfig's folder) and
``insecure-skip-tls-verify``. Anything else is named in a clear error.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from agent.documents import DocumentError, parse_yaml
from agent.errors import AgentError
from agent.safe_read import KUBECONFIG_LIMIT, SMALL_FILE_LIMIT, UnsafeFile, read_text

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_NAMESPACE = "mirror-agent"  # where the manifests in daemonset/ install the agent
FROM_FILE_HINT = (
    "or fetch the reports yourself: oc get configmaps -n mirror-agent "
    "-l app.kubernetes.io/component=report -o json | agent collect --from-file -"
)


class KubeConfigError(AgentError):
    """The API's location or credentials cannot be worked out."""


@dataclass(frozen=True)
class ClusterConfig:
    server: str  # https://host:port
    verify: bool | str = True  # CA bundle path, True (system CAs) or False (insecure)
    token: Optional[str] = None
    token_file: Optional[str] = None  # re-read when it changes (tokens rotate hourly)
    client_cert: Optional[tuple[str, str]] = None  # (certificate file, key file)
    namespace: Optional[str] = None
    source: str = ""  # where this came from, for messages


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


_private_dir: list[str] = []  # the fallback folder of this process, made on first use


def _materialise(data: str, suffix: str, where: str) -> str:
    """``*-data`` fields are base64 PEM; requests wants files.

    On Linux the bytes go to an anonymous in-memory file, named by its /proc/self/fd
    path, that disappears with the process, however it ends: a kubeconfig's client key
    (often cluster-admin's) is never written to disk. Elsewhere they go to a private
    folder removed when the process exits.
    """
    try:
        content = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise KubeConfigError(f"{where}: not valid base64") from None
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create(f"mirror-agent{suffix}")  # close-on-exec: no child gets it
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
        return f"/proc/self/fd/{fd}"
    if not _private_dir:
        _private_dir.append(tempfile.mkdtemp(prefix="mirror-agent-kube-"))  # mode 0700
        atexit.register(shutil.rmtree, _private_dir[0], True)
    fd, path = tempfile.mkstemp(suffix=suffix, dir=_private_dir[0])
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    return path


def from_kubeconfig(
    explicit: Optional[str] = None,
    context: Optional[str] = None,
    env: Mapping[str, str] = os.environ,
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

    unsupported = sorted(
        key
        for key in ("exec", "auth-provider", "username", "password", "as", "impersonate")
        if user.get(key)
    )
    if unsupported:
        raise KubeConfigError(
            f"kubeconfig user {user_name!r} uses {', '.join(unsupported)}, which "
            "mirror-agent does not support (it supports bearer tokens and client certificates)",
            hint=FROM_FILE_HINT,
        )
    if cluster.get("proxy-url"):
        raise KubeConfigError(
            f"cluster {cluster_name!r} uses proxy-url, which is not supported",
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
        verify = resolve(ca_file, cluster_path)

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
        raise KubeConfigError(f"cluster {cluster_name!r} has no server")
    return ClusterConfig(
        server=str(server).rstrip("/"),
        verify=verify,
        token=token,
        token_file=resolve(token_file, user_path) if token_file else None,
        client_cert=client_cert,
        namespace=namespace,
        source=f"kubeconfig {', '.join(map(str, existing))} (context {current})",
    )
