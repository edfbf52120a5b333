"""Self-signed TLS material for :mod:`tests.support.fake_apiserver`, made with ``openssl``.

:func:`generate_certs` writes a CA (EC P-256, ``CA:TRUE``, ``keyCertSign``) and a server
certificate signed by it (``serverAuth``, SANs ``localhost``, ``kubernetes``,
``kubernetes.default``, ``kubernetes.default.svc``, ``127.0.0.1`` and ``::1``) into a
directory. Both Go's ``crypto/x509`` (kubectl) and OpenSSL (Python's ``ssl``, requests)
accept them. :func:`shared_certs` makes one set per process, in a temporary directory
removed at interpreter exit, so that starting many servers in a test run stays cheap.
"""

from __future__ import annotations

import atexit
import secrets
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

__all__ = ["CertBundle", "CertError", "generate_certs", "issue_client_cert", "shared_certs"]

DEFAULT_DNS_NAMES: tuple[str, ...] = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
)
DEFAULT_IPS: tuple[str, ...] = ("127.0.0.1", "::1")


class CertError(RuntimeError):
    """``openssl`` is missing or one of its commands failed."""


@dataclass(frozen=True)
class CertBundle:
    """Paths of the PEM files of one CA and the server certificate it signed."""

    directory: Path
    ca_file: Path
    ca_key_file: Path
    cert_file: Path
    key_file: Path

    def ca_pem(self) -> str:
        """The CA certificate, PEM text (what a kubeconfig's ``certificate-authority-data``
        holds once base64-encoded)."""
        return self.ca_file.read_text(encoding="ascii")


def _openssl(args: Sequence[str], cwd: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise CertError("the openssl command is not installed")
    done = subprocess.run(
        [openssl, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60
    )
    if done.returncode != 0:
        raise CertError(f"openssl {' '.join(args)} failed ({done.returncode}): {done.stderr}")


def generate_certs(
    directory: Path,
    *,
    dns_names: Sequence[str] = DEFAULT_DNS_NAMES,
    ips: Sequence[str] = DEFAULT_IPS,
    days: int = 30,
) -> CertBundle:
    """Write ``ca.crt``/``ca.key`` and ``server.crt``/``server.key`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    bundle = CertBundle(
        directory=directory,
        ca_file=directory / "ca.crt",
        ca_key_file=directory / "ca.key",
        cert_file=directory / "server.crt",
        key_file=directory / "server.key",
    )
    ec = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
    _openssl(["genpkey", *ec, "-out", bundle.ca_key_file.name], directory)
    _openssl(
        [
            "req", "-x509", "-new", "-sha256", "-days", str(days),
            "-key", bundle.ca_key_file.name,
            "-subj", f"/CN=fake-apiserver-ca-{secrets.token_hex(4)}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
            "-out", bundle.ca_file.name,
        ],
        directory,
    )  # fmt: skip
    _openssl(["genpkey", *ec, "-out", bundle.key_file.name], directory)
    _openssl(
        ["req", "-new", "-key", bundle.key_file.name, "-subj", "/CN=kube-apiserver",
         "-out", "server.csr"],
        directory,
    )  # fmt: skip
    sans = [f"DNS:{name}" for name in dns_names] + [f"IP:{ip}" for ip in ips]
    (directory / "server.ext").write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid\n"
        f"subjectAltName={','.join(sans)}\n",
        encoding="ascii",
    )
    _openssl(
        [
            "x509", "-req", "-sha256", "-days", str(days),
            "-in", "server.csr",
            "-CA", bundle.ca_file.name, "-CAkey", bundle.ca_key_file.name,
            "-set_serial", str(int.from_bytes(secrets.token_bytes(8), "big") | 1),
            "-extfile", "server.ext",
            "-out", bundle.cert_file.name,
        ],
        directory,
    )  # fmt: skip
    return bundle


def issue_client_cert(
    bundle: CertBundle,
    directory: Path,
    user: str,
    groups: Sequence[str] = (),
    *,
    days: int = 1,
) -> tuple[Path, Path]:
    """A client certificate for ``user`` (CN) in ``groups`` (O), signed by the bundle's
    CA, as the API server's x509 authenticator reads it: ``(certificate, key)`` files."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = "client-" + secrets.token_hex(4)
    key, csr, cert = (directory / f"{stem}{suffix}" for suffix in (".key", ".csr", ".crt"))
    subject = "".join(f"/O={group}" for group in groups) + f"/CN={user}"
    _openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-out", key.name], directory)  # fmt: skip
    _openssl(["req", "-new", "-key", key.name, "-subj", subject, "-out", csr.name], directory)
    (directory / f"{stem}.ext").write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=clientAuth\n",
        encoding="ascii",
    )
    _openssl(
        ["x509", "-req", "-sha256", "-days", str(days), "-in", csr.name,
         "-CA", str(bundle.ca_file), "-CAkey", str(bundle.ca_key_file),
         "-set_serial", str(int.from_bytes(secrets.token_bytes(8), "big") | 1),
         "-extfile", f"{stem}.ext", "-out", cert.name],
        directory,
    )  # fmt: skip
    return cert, key


_shared: Optional[CertBundle] = None
_shared_lock = threading.Lock()


def shared_certs() -> CertBundle:
    """One :class:`CertBundle` for the whole process (made on first use, removed at exit)."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.cert_file.is_file():
            directory = Path(tempfile.mkdtemp(prefix="fake-apiserver-certs-"))
            atexit.register(shutil.rmtree, directory, True)
            _shared = generate_certs(directory)
        return _shared
