"""agent.safe_read and agent.documents: what every file read and every parse guarantees."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from agent.documents import DocumentError, check_depth, parse_json, parse_yaml
from agent.errors import ExitCode
from agent.safe_read import (
    UnsafeFile,
    decode_text,
    read_bytes,
    read_stdin,
    read_text,
    read_text_or_stdin,
)


def test_a_regular_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"\xef\xbb\xbfhello\n")
    assert read_text(path, limit=100) == "hello\n"  # the byte-order mark is dropped
    assert read_bytes(path, limit=100) == b"\xef\xbb\xbfhello\n"


def test_a_missing_file(tmp_path: Path) -> None:
    assert read_text(tmp_path / "none", limit=10, missing_ok=True) is None
    with pytest.raises(UnsafeFile, match="no such file") as caught:
        read_text(tmp_path / "none", limit=10)
    assert caught.value.exit_code == ExitCode.BAD_INPUT


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "x.conf"
    os.mkfifo(fifo)
    with pytest.raises(UnsafeFile, match="FIFO") as caught:
        read_text(fifo, limit=10)
    assert caught.value.problem == "not-regular" and str(fifo) in caught.value.message


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafeFile, match="a directory"):
        read_text(tmp_path, limit=10, missing_ok=True)


def test_the_size_cap(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 11)
    with pytest.raises(UnsafeFile, match="larger than the 10 bytes") as caught:
        read_text(path, limit=10)
    assert caught.value.problem == "too-large"
    path.write_bytes(b"x" * 10)
    assert read_text(path, limit=10) == "x" * 10


def test_not_utf8_names_line_column_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"ok\nab\xffc\n")
    with pytest.raises(UnsafeFile) as caught:
        read_text(path, limit=100, shown="the file")
    assert caught.value.message == (
        "the file: not UTF-8 text: byte 0xff at line 2, column 3 (byte offset 5)"
    )
    assert caught.value.line == 2
    assert decode_text(b"ab\xffc", "x", lenient=True) == "ab\ufffdc"


def test_a_refused_permission_is_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*_: object) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", refused)
    with pytest.raises(UnsafeFile) as caught:
        read_text(tmp_path / "f", limit=10)
    assert caught.value.exit_code == ExitCode.ENVIRONMENT


def test_standard_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\xef\xbb\xbfa\n")))
    assert read_text_or_stdin("-", limit=10) == "a\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"x" * 11)))
    with pytest.raises(UnsafeFile, match="standard input: larger than"):
        read_stdin(limit=10)


def test_json_depth_is_bounded() -> None:
    assert parse_json("[[[1]]]", "s") == [[[1]]]
    with pytest.raises(DocumentError, match="s: nested more than 100 levels deep"):
        parse_json("[" * 101 + "]" * 101, "s")
    with pytest.raises(DocumentError, match="s: nested more than"):
        parse_json("[" * 100_000 + "]" * 100_000, "s")  # the parser's own RecursionError
    with pytest.raises(DocumentError, match="s: not valid JSON"):
        parse_json("{", "s")


def test_yaml_depth_and_errors_name_the_source() -> None:
    assert parse_yaml("a: [1]", "k") == {"a": [1]}
    with pytest.raises(DocumentError, match="k: nested more than"):
        parse_yaml("a: " + "[" * 3000 + "]" * 3000, "k")
    with pytest.raises(DocumentError, match="k: not valid YAML"):
        parse_yaml("a: [", "k")


def test_shared_aliases_are_walked_once() -> None:
    shared: list[object] = [1]
    for _ in range(60):
        shared = [shared] * 2  # 2**60 paths, 60 levels: must end at once
    check_depth(shared, "s")
    with pytest.raises(DocumentError):
        check_depth(shared, "s", limit=10)


def test_a_checks_file_with_a_bom_keeps_its_first_reference(tmp_path: Path) -> None:
    from agent.commands.check import read_checks_file

    reference = "quay.io/team/app@sha256:" + "ab" * 32
    path = tmp_path / "images.txt"
    path.write_bytes(b"\xef\xbb\xbf" + reference.encode() + b"\n")
    assert read_checks_file(path) == [(reference, None)]
