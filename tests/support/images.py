"""The lab's images: one-layer images built with ``podman import`` from a tarball of random
bytes (so every build has its own digests), and the podman/skopeo arguments that push,
copy and inspect them between the lab's plain-HTTP registries.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from tests.support.processes import LabError

_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Image:
    """An image built in the lab's private podman storage."""

    name: str
    """Local reference in lab storage, e.g. ``localhost/team/app:1``."""
    repository: str
    """Repository part of the tag name as given, e.g. ``team/app``."""
    tag: str
    image_id: str
    """``sha256:...`` of the image config (the podman image ID)."""
    marker: str
    """Unique text stored in the image (file ``/lab-marker`` and label ``lab.marker``)."""
    size_bytes: int


def manifest_digest(manifest: bytes) -> str:
    """``sha256:<hex>`` of raw manifest bytes (what a registry calls the digest)."""
    return "sha256:" + hashlib.sha256(manifest).hexdigest()


def split_tag(tag_name: str) -> tuple[str, str]:
    """``("team/app", "1")`` from ``team/app:1`` (tag ``latest`` when none); LabError for
    a name podman would refuse."""
    name, _, tag = tag_name.rpartition(":")
    if not name or "/" in tag:
        name, tag = tag_name, "latest"
    if not re.fullmatch(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*", name):
        raise LabError(f"image name {name!r}: lower-case path components only")
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag):
        raise LabError(f"image tag {tag!r} is not a valid tag")
    return name, tag


@contextlib.contextmanager
def layer_tarball(builds: Path, marker: str, size_bytes: int) -> Iterator[Path]:
    """A tarball holding ``/payload.bin`` (``size_bytes`` random bytes) and ``/lab-marker``
    (``marker``), in a fresh folder below ``builds`` removed afterwards."""
    build_dir = builds / uuid.uuid4().hex
    build_dir.mkdir(parents=True)
    tarball = build_dir / "layer.tar"
    now = int(time.time())
    with tarfile.open(tarball, "w", format=tarfile.PAX_FORMAT) as archive:
        for member_name, data in (
            ("lab-marker", marker.encode() + b"\n"),
            ("payload.bin", os.urandom(size_bytes)),
        ):
            info = tarfile.TarInfo(member_name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = now
            archive.addfile(info, io.BytesIO(data))
    try:
        yield tarball
    finally:
        shutil.rmtree(build_dir, ignore_errors=True)


def import_args(policy: Path, marker: str, tarball: Path, name: str) -> list[str]:
    """``podman import`` of a layer tarball as ``name``, labelled with ``marker``."""
    return [
        "import",
        "--quiet",
        "--signature-policy",
        str(policy),
        "--change",
        f"LABEL lab.marker={json.dumps(marker)}",
        "--change",
        'CMD ["/payload.bin"]',
        str(tarball),
        name,
    ]


def image_id_from_import(stdout: str) -> str:
    """The ``sha256:...`` image ID ``podman import --quiet`` printed (LabError if none)."""
    image_id = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    if not image_id.startswith("sha256:"):
        image_id = "sha256:" + image_id
    if not _DIGEST_RE.match(image_id):
        raise LabError(f"podman import printed no image ID: {stdout!r}")
    return image_id


def push_args(
    cert_dir: Path, policy: Path, digest_file: Path, credentials: Optional[str]
) -> list[str]:
    """``podman push`` flags (plain HTTP, gzip, digest written to ``digest_file``)."""
    args = [
        "push",
        "--quiet",
        "--tls-verify=false",
        "--cert-dir",
        str(cert_dir),
        "--signature-policy",
        str(policy),
        "--compression-format",
        "gzip",
        "--digestfile",
        str(digest_file),
    ]
    if credentials:
        args += ["--creds", credentials]
    return args


def copy_args(
    cert_dir: Path,
    digest_file: Path,
    source_credentials: Optional[str],
    destination_credentials: Optional[str],
) -> list[str]:
    """``skopeo copy --preserve-digests`` flags between plain-HTTP registries."""
    args = [
        "copy",
        "--quiet",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--src-cert-dir",
        str(cert_dir),
        "--dest-cert-dir",
        str(cert_dir),
        "--digestfile",
        str(digest_file),
    ]
    args += ["--src-creds", source_credentials] if source_credentials else ["--src-no-creds"]
    if destination_credentials:
        args += ["--dest-creds", destination_credentials]
    else:
        args += ["--dest-no-creds"]
    return args


def inspect_raw_args(cert_dir: Path, credentials: Optional[str]) -> list[str]:
    """``skopeo inspect --raw`` flags for a plain-HTTP registry."""
    args = ["inspect", "--raw", "--tls-verify=false", "--cert-dir", str(cert_dir)]
    args += ["--creds", credentials] if credentials else ["--no-creds"]
    return args


def reference_separator(reference: str) -> str:
    """``@`` before a digest, ``:`` before a tag."""
    return "@" if reference.startswith("sha256:") else ":"


def read_digest(path: Path) -> str:
    """The manifest digest a ``--digestfile`` holds (LabError when it holds none)."""
    digest = path.read_text().strip()
    if not _DIGEST_RE.match(digest):
        raise LabError(f"no sha256 digest in {path}: {digest!r}")
    return digest
