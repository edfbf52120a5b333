"""Find and read the node's registries.conf files under a host root (the only I/O here).

The lookup follows containers/image ``newConfigWrapperWithHomeDir`` and
``dropInConfigs`` (docs/registries-conf.md §1) for podman running as root on the node.
The files' node paths are in :mod:`agent.node.paths`; they are resolved inside the host
root the way ``chroot`` would (:class:`~agent.node.paths.HostRoot`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from agent.errors import ConfigError, ExitCode
from agent.node.paths import (
    ALIAS_CACHE,
    ROOT_HOME,
    SYSTEM_DROP_INS,
    SYSTEM_MAIN,
    USER_ALIAS_CACHE,
    USER_DROP_INS,
    USER_MAIN,
    HostRoot,
)
from agent.registries.model import CURRENT, Compat
from agent.safe_read import REGISTRIES_CONF_LIMIT, UnsafeFile, decode_text, read_bytes


@dataclass(frozen=True)
class ConfigFile:
    path: str  # as read by the agent, e.g. /host/etc/containers/registries.conf
    text: str
    drop_in: bool


def _exit_code_of(error: OSError) -> ExitCode:
    """A file the agent may not read is the environment's fault (not root), not the file's."""
    return ExitCode.ENVIRONMENT if isinstance(error, PermissionError) else ExitCode.BAD_INPUT


def _read(path: Path, shown: str, budget: int = REGISTRIES_CONF_LIMIT) -> Optional[str]:
    """The file's text, None when it does not exist; a FIFO, a device, an oversized or
    non-UTF-8 file is an error naming it (never a hang). ``budget``: what is left of
    :data:`REGISTRIES_CONF_LIMIT` for all the files of one load together."""
    try:
        data = read_bytes(path, limit=budget, missing_ok=True, shown=shown)
    except UnsafeFile as exc:
        message = exc.detail
        if exc.problem == "too-large" and budget < REGISTRIES_CONF_LIMIT:
            message = (
                f"the registries.conf files read so far and this one together are larger "
                f"than the {REGISTRIES_CONF_LIMIT // 1024 // 1024} MiB the agent reads"
            )
        raise ConfigError(
            "file-unreadable", message, file=shown, exit_code=exc.exit_code, hint=exc.hint
        ) from None
    if data is None:
        return None
    try:
        return decode_text(data, shown)
    except UnsafeFile as exc:
        raise ConfigError(
            "toml-syntax", f"invalid TOML: the file is {exc.detail}", file=shown, line=exc.line
        ) from None


def _ask(path: Path, question: Callable[[Path], bool]) -> bool:
    """``question(path)`` (exists, is a symlink); a folder the agent may not enter is a
    clear error (the environment's fault), not a traceback."""
    try:
        return question(path)
    except PermissionError as exc:
        raise ConfigError(
            "file-unreadable",
            f"cannot look into {path.parent}: {exc.strerror or exc}",
            file=str(path),
            exit_code=ExitCode.ENVIRONMENT,
        ) from None


def _drop_ins(host: HostRoot, node_dir: str) -> list[tuple[Path, Path]]:
    """(path shown, path read) of each drop-in; a symlinked drop-in is followed on the node."""
    parent, _, leaf = node_dir.rpartition("/")
    directory = host.resolve(parent) / leaf
    if _ask(directory, Path.is_symlink):
        # Go's filepath.WalkDir does not follow a symlinked root: such a directory is
        # silently not read by podman, so it is not read here either.
        return []
    try:
        with os.scandir(directory) as entries:
            # Not recursive; any non-directory entry named *.conf, byte-wise name order.
            names = [
                entry.name
                for entry in entries
                if entry.name.endswith(".conf") and not entry.is_dir(follow_symlinks=False)
            ]
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise ConfigError(
            "file-unreadable",
            f"cannot list the drop-in directory: {exc.strerror or exc}",
            file=str(directory),
            exit_code=_exit_code_of(exc),
        ) from None
    return [
        (directory / name, host.resolve(f"{node_dir}/{name}"))
        for name in sorted(names, key=os.fsencode)
    ]


def read_config_files(
    host: HostRoot,
    *,
    home: str = ROOT_HOME,
    main_override: Optional[Path] = None,
    compat: Compat = CURRENT,
) -> list[ConfigFile]:
    """The files podman (as the user whose HOME is ``home``) reads, in load order.

    ``main_override`` replaces the main file as ``CONTAINERS_REGISTRIES_CONF`` does; it is
    a path on the agent's own filesystem and must exist. Drop-ins are still read.

    A listed drop-in that cannot be found when it is opened (a dangling symlink, or a file
    removed meanwhile) is skipped from containers/image 5.34.0 on and an error before, as
    ``tryUpdatingCache`` then failed on any error; any other read error is always one.
    """
    user_main = host.resolve(f"{home}/{USER_MAIN}")
    user_drop_ins = f"{home}/{USER_DROP_INS}"
    if main_override is not None:
        main_path, main_required = main_override, True
        drop_in_dirs = [SYSTEM_DROP_INS, user_drop_ins]
    elif _ask(user_main, Path.exists):
        # An existing per-user file, even empty, hides the system file and drop-ins.
        main_path, main_required = user_main, True
        drop_in_dirs = [user_drop_ins]
    else:
        main_path, main_required = host.resolve(SYSTEM_MAIN), False
        drop_in_dirs = [SYSTEM_DROP_INS, user_drop_ins]

    files: list[ConfigFile] = []
    text = _read(main_path, str(main_path))
    used = len(text.encode()) if text is not None else 0
    if text is None and main_required:
        raise ConfigError(
            "file-not-found",
            "the registries.conf chosen explicitly does not exist",
            file=str(main_path),
            hint="podman fails every pull when CONTAINERS_REGISTRIES_CONF names a missing file",
        )
    if text is not None:
        files.append(ConfigFile(str(main_path), text, drop_in=False))
    for directory in drop_in_dirs:
        for shown, real in _drop_ins(host, directory):
            drop_in_text = _read(real, str(shown), REGISTRIES_CONF_LIMIT - used)
            if drop_in_text is not None:
                used += len(drop_in_text.encode())
                files.append(ConfigFile(str(shown), drop_in_text, drop_in=True))
            elif not compat.skips_vanished_drop_ins:
                raise ConfigError(
                    "file-not-found",
                    "the drop-in cannot be opened: no such file (a dangling symlink?)",
                    file=str(shown),
                    hint="containers/image before 5.34 fails every pull because of it; "
                    "remove it or fix its target",
                )
    return files


def read_alias_cache(host: HostRoot, home: str = ROOT_HOME) -> Optional[ConfigFile]:
    """The machine-written short-name alias cache (root's, or a user's), when present."""
    node_path = ALIAS_CACHE if home == ROOT_HOME else f"{home}/{USER_ALIAS_CACHE}"
    path = host.resolve(node_path)
    text = _read(path, str(path))
    return None if text is None else ConfigFile(str(path), text, drop_in=True)
