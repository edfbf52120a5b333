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
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from agent.errors import AgentError

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


_private_dir: list[str] = []  # the fallback folder of this process, made on first use


def _materialise(data: str, suffix: str) -> str:
    """``*-data`` fields are base64 PEM; requests wants files.

    On Linux the bytes go to an anonymous in-memory file, named by its /proc/self/fd
    path, that disappears with the process, however it ends: a kubeconfig's client key
    (often cluster-admin's) is never written to disk. Elsewhere they go to a private
    folder removed when the process exits.
    """
    content = base64.b64decode(data)
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
    user_path, user = _named(documents, "users").get(ctx.get("user", ""), (cluster_path, {}))

    unsupported = sorted(
        key
        for key in ("exec", "auth-provider", "username", "password", "as", "impersonate")
        if user.get(key)
    )
    if unsupported:
        raise KubeConfigError(
            f"kubeconfig user {ctx.get('user')!r} uses {', '.join(unsupported)}, which "
            "mirror-agent does not support (it supports bearer tokens and client certificates)",
            hint=FROM_FILE_HINT,
        )
    if cluster.get("proxy-url"):
        raise KubeConfigError(
            f"cluster {ctx.get('cluster')!r} uses proxy-url, which is not supported",
            hint=FROM_FILE_HINT,
        )

    def resolve(path: str, base: Path) -> str:
        return str(path if os.path.isabs(path) else (base.parent / path))

    verify: bool | str = True
    if cluster.get("insecure-skip-tls-verify"):
        verify = False
    elif cluster.get("certificate-authority-data"):
        verify = _materialise(cluster["certificate-authority-data"], ".crt")
    elif cluster.get("certificate-authority"):
        verify = resolve(cluster["certificate-authority"], cluster_path)

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
    return ClusterConfig(
        server=str(server).rstrip("/"),
        verify=verify,
        token=user.get("token"),
        token_file=resolve(token_file, user_path) if token_file else None,
        client_cert=client_cert,
        namespace=ctx.get("namespace"),
        source=f"kubeconfig {', '.join(map(str, existing))} (context {current})",
    )
