"""What the image test builds from, made once per machine and cached.

Under ``/var/cache/mirror-agent-test`` (or ``MIRROR_AGENT_TEST_CACHE``), each under a name
that hashes what it was made from, so a change makes a new one (one unused for a week is
removed):

* :func:`debian_base`: a minimal Debian root filesystem with Python (``mmdebstrap
  --variant=essential --include=python3,python3-venv``, the machine's own suite and apt
  sources), as a tarball for ``podman import``. About a minute to make, 150 MB.
* :func:`wheelhouse`: the project's dependencies and its build backend as wheels, what
  docs/deploying.md has a connected machine download (``pip download`` on the host, with
  the host's Python and pip settings), so that the image builds without network.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.data import PROJECT_ROOT

CACHE_DIR = Path(os.environ.get("MIRROR_AGENT_TEST_CACHE", "/var/cache/mirror-agent-test"))
#: python3-venv: the build stage makes the agent's virtual environment with the base's Python.
BASE_PACKAGES = ("python3", "python3-venv")
_MMDEBSTRAP_OPTIONS = (
    "--variant=essential",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--dpkgopt=path-exclude=/usr/share/info/*",
)
#: The project's build backend, for `pip install /src` without an index.
BUILD_REQUIREMENTS = ("setuptools>=61",)
_MAKE_TIMEOUT = 900.0


class InputError(RuntimeError):
    """An input could not be made; the message says why (and where its log is)."""


@contextlib.contextmanager
def _cache_lock(cache: Path) -> Iterator[None]:
    """One maker at a time per machine (several test runs may start together)."""
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _used(made: Path, pattern: str) -> Path:
    """Mark ``made`` as used now; remove what ``pattern`` matches beside it that no run
    has used for a week (made from an older pyproject.toml, or apt sources)."""
    os.utime(made)
    week_ago = time.time() - 7 * 24 * 3600
    for other in made.parent.glob(pattern):
        if other != made and other.stat().st_mtime < week_ago:
            if other.is_dir():
                shutil.rmtree(other, ignore_errors=True)
            else:
                other.unlink(missing_ok=True)
    return made


def _short_hash(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def os_codename(os_release: Path = Path("/etc/os-release")) -> str:
    for line in os_release.read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "VERSION_CODENAME" and value.strip('"'):
            return value.strip('"')
    raise InputError(f"{os_release} has no VERSION_CODENAME: not a Debian-like machine?")


def apt_source_files(suite: str, apt_dir: Path = Path("/etc/apt")) -> list[Path]:
    """The machine's apt source files that name ``suite`` (its Debian mirrors)."""
    candidates = [apt_dir / "sources.list"]
    candidates += sorted((apt_dir / "sources.list.d").glob("*.list"))
    candidates += sorted((apt_dir / "sources.list.d").glob("*.sources"))
    found = [
        path
        for path in candidates
        if path.is_file() and re.search(rf"(^|\s){re.escape(suite)}(\s|$)", path.read_text(), re.M)
    ]
    if not found:
        raise InputError(f"no apt source in {apt_dir} names the suite {suite!r}")
    return found


def debian_base(cache: Path = CACHE_DIR) -> Path:
    """The base tarball (made with mmdebstrap when the cache lacks it)."""
    suite = os_codename()
    sources = apt_source_files(suite)
    key = _short_hash(
        suite,
        *BASE_PACKAGES,
        *_MMDEBSTRAP_OPTIONS,
        *(f"{path}\n{path.read_text()}" for path in sources),
    )
    tarball = cache / f"debian-{suite}-{key}.tar"
    if tarball.is_file():
        return _used(tarball, "debian-*.tar")
    if shutil.which("mmdebstrap") is None:
        raise InputError("mmdebstrap is not installed: run scripts/setup.sh")
    with _cache_lock(cache):
        if tarball.is_file():
            return tarball
        partial = cache / f".{tarball.name}.partial.tar"
        log = cache / f"{tarball.name}.log"
        argv = [
            "mmdebstrap",
            *_MMDEBSTRAP_OPTIONS,
            f"--include={','.join(BASE_PACKAGES)}",
            suite,
            str(partial),
            *map(str, sources),
        ]
        done = subprocess.run(
            argv, capture_output=True, text=True, check=False, timeout=_MAKE_TIMEOUT
        )
        log.write_text(f"{' '.join(argv)}\n{done.stdout}{done.stderr}")
        if done.returncode != 0:
            partial.unlink(missing_ok=True)
            raise InputError(f"mmdebstrap failed (exit {done.returncode}), see {log}")
        partial.rename(tarball)
    return _used(tarball, "debian-*.tar")


def python_tag() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def wheelhouse(cache: Path = CACHE_DIR) -> Path:
    """A folder of wheels for an offline `pip install` of the project: what
    docs/deploying.md has a connected machine download (``pip download --only-binary=:all:
    . 'setuptools>=61'``), made when the cache lacks it. Wheels for this Python, which is
    the base's too: both come from the machine's Debian suite."""
    pyproject = (PROJECT_ROOT / "pyproject.toml").read_text()
    key = _short_hash(python_tag(), pyproject, *BUILD_REQUIREMENTS)
    folder = cache / f"wheels-py{python_tag()}-{key}"
    if folder.is_dir():
        return _used(folder, "wheels-py*")
    with _cache_lock(cache):
        if folder.is_dir():
            return folder
        partial = Path(tempfile.mkdtemp(prefix=".wheels-", dir=cache))
        argv = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
        argv += ["--only-binary=:all:", "--dest", str(partial), str(PROJECT_ROOT)]
        argv += BUILD_REQUIREMENTS
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)
        if done.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            raise InputError(f"pip download failed (exit {done.returncode}):\n{done.stderr}")
        partial.chmod(0o755)
        partial.rename(folder)
    return _used(folder, "wheels-py*")
