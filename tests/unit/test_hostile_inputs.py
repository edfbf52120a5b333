"""Hostile inputs (issue 10, §1 and §4): each runs the real ``agent`` command as a process.

Every case asserts the exit code, a message that names the culprit (file, field or
value), no traceback and no "internal error" (exit 70 is a defect), and that the command
ends: each process runs under a timeout (a FIFO must not block a read), and a case that
hits it fails as a hang. Nothing here pulls: the inputs are refused before podman runs.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest

AGENT = Path(sys.executable).with_name("agent")
HANG_GUARD = 30.0  # seconds: far above any case (each ends in about a second)
DIGEST = "sha256:" + "ab" * 32
REF = f"quay.io/team/app@{DIGEST}"


@dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def both(self) -> str:
        return self.out + self.err


def agent(*args: str, stdin: Optional[bytes] = None, cwd: Optional[Path] = None) -> Ran:
    """``agent ARGS`` as a process; a hang fails the test (the guard kills it)."""
    try:
        done = subprocess.run(
            [str(AGENT), *args],
            input=stdin if stdin is not None else b"",
            capture_output=True,
            timeout=HANG_GUARD,
            check=False,
            cwd=cwd,
            env={**os.environ, "KUBECONFIG": "/nonexistent/kubeconfig", "NODE_NAME": "node-x"},
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"agent {' '.join(args)} hung (killed after {HANG_GUARD}s)")
    ran = Ran(done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode("utf-8"))
    assert "Traceback" not in ran.both, ran.both
    assert "internal error" not in ran.both, ran.both
    assert ran.code != 70, ran.both
    return ran


def refused(ran: Ran, code: int, *culprits: str) -> None:
    assert ran.code == code, f"exit {ran.code}\n{ran.both}"
    for culprit in culprits:
        assert culprit in ran.err, f"{culprit!r} not named:\n{ran.err}"


# -- a node's host root --------------------------------------------------------------------


@pytest.fixture
def host(tmp_path: Path) -> Path:
    root = tmp_path / "host"
    (root / "etc/containers/registries.conf.d").mkdir(parents=True)
    (root / "etc/containers/registries.conf").write_text("unqualified-search-registries = []\n")
    return root


def conf_of(host: Path) -> Path:
    return host / "etc/containers/registries.conf"


def config(host: Path, *extra: str) -> Ran:
    return agent("config", "--host-root", str(host), *extra)


# -- registries.conf ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "depth"),
    [("[" * 490 + "]" * 490, 490), ("{a = " * 330 + "1" + "}" * 330, 330)],
    ids=["arrays-490", "inline-tables-330"],
)
def test_registries_conf_nested_too_deeply(host: Path, value: str, depth: int) -> None:
    conf_of(host).write_text(f"x = {value}\n")
    for command in (["config"], ["explain", REF]):
        ran = agent(*command, "--host-root", str(host))
        refused(ran, 2, str(conf_of(host)), "nested too deeply")


def test_registries_conf_nested_too_deeply_as_json(host: Path) -> None:
    conf_of(host).write_text("x = " + "[" * 600 + "]" * 600 + "\n")
    ran = config(host, "-o", "json")
    assert ran.code == 2
    assert json.loads(ran.out)["error"]["kind"] == "toml-syntax"


def test_fifo_drop_in_does_not_block(host: Path) -> None:
    os.mkfifo(host / "etc/containers/registries.conf.d/x.conf")
    for command in (["config"], ["explain", REF]):
        refused(agent(*command, "--host-root", str(host)), 2, "x.conf", "FIFO")


def test_fifo_main_file_does_not_block(host: Path) -> None:
    conf_of(host).unlink()
    os.mkfifo(conf_of(host))
    refused(config(host), 2, str(conf_of(host)), "FIFO")


def test_fifo_given_with_registries_conf_does_not_block(host: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "given.conf"
    os.mkfifo(fifo)
    refused(config(host, "--registries-conf", str(fifo)), 2, str(fifo), "FIFO")


def test_directory_given_with_registries_conf(host: Path, tmp_path: Path) -> None:
    refused(config(host, "--registries-conf", str(tmp_path)), 2, str(tmp_path), "directory")


def test_drop_in_symlinked_to_a_directory(host: Path) -> None:
    (host / "etc/containers/registries.conf.d/d.conf").symlink_to("/etc/containers")
    refused(config(host), 2, "d.conf", "directory")


def test_drop_in_symlink_loop(host: Path) -> None:
    link = host / "etc/containers/registries.conf.d/loop.conf"
    link.symlink_to("loop.conf")
    refused(config(host), 2, "loop.conf")


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_drop_in_that_is_a_device(host: Path) -> None:
    os.mknod(
        host / "etc/containers/registries.conf.d/zero.conf", stat.S_IFCHR | 0o600, os.makedev(1, 5)
    )
    refused(config(host), 2, "zero.conf", "a device")


def test_registries_conf_not_utf8(host: Path) -> None:
    conf_of(host).write_bytes(b"unqualified-search-registries = []\n# caf\xe9\n")
    refused(config(host), 2, str(conf_of(host)), "not UTF-8", "line 2")


def test_registries_conf_with_a_bom_loads_as_podman_loads_it(host: Path) -> None:
    conf_of(host).write_bytes(b'\xef\xbb\xbfunqualified-search-registries = ["quay.io"]\n')
    ran = config(host, "-o", "json")
    assert ran.code == 0, ran.both
    assert json.loads(ran.out)["effective"]["unqualifiedSearchRegistries"] == ["quay.io"]


def test_registries_conf_over_the_size_cap(host: Path) -> None:
    with conf_of(host).open("ab") as handle:
        handle.truncate(4 * 1024 * 1024 + 1)  # sparse: refused from its size, never read
    refused(config(host), 2, str(conf_of(host)), "larger than the 4 MiB")


def test_drop_in_over_the_size_cap(host: Path) -> None:
    big = host / "etc/containers/registries.conf.d/big.conf"
    big.write_text("# padding\n" * (4 * 1024 * 1024 // 10 + 1))
    refused(config(host), 2, "big.conf", "larger than")


def test_drop_ins_together_over_the_size_cap(host: Path) -> None:
    """The cap bounds one load, not one file: many drop-ins under it each are refused too."""
    for name in ("50-a.conf", "60-b.conf"):
        (host / "etc/containers/registries.conf.d" / name).write_text("# pad\n" * 500_000)
    refused(config(host), 2, "60-b.conf", "together are larger than the 4 MiB")


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv"
)
def test_a_folder_the_agent_may_not_enter(host: Path, tmp_path: Path) -> None:
    (host / "root").mkdir(mode=0o000)
    (host / "root").chmod(0o000)
    # Root without the capabilities that bypass file permissions, rather than another
    # user: the checkout (and so the agent itself) may sit in a folder only root can enter.
    argv = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", str(AGENT)]
    done = subprocess.run(
        [*argv, "config", "--host-root", str(host)],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert done.returncode == 69, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "root" in done.stderr
    assert "ermission denied" in done.stderr


# -- references: control characters never reach a terminal --------------------------------


@pytest.mark.parametrize(
    "reference",
    [
        "quay.io/a/b\x1b]0;owned\x07:1",  # OSC: sets the terminal's title
        "quay.io/a/b\x1b[2J:1",  # CSI: clears the screen
        "quay.io/a/\u202eb:1",  # right-to-left override
        "quay.io/a/b\x9b31m:1",  # C1 CSI
    ],
    ids=["osc", "csi", "bidi", "c1"],
)
def test_control_characters_in_a_reference(host: Path, reference: str) -> None:
    for output in ("table", "json"):
        ran = agent("explain", "--host-root", str(host), reference, "-o", output)
        refused(ran, 2, "control characters")
        for raw in ("\x1b", "\u202e", "\x9b", "\x07"):
            assert raw not in ran.both


def test_control_characters_in_the_images_file(host: Path, tmp_path: Path) -> None:
    images = tmp_path / "images.txt"
    images.write_text(f"quay.io/a/b\x1b]0;owned\x07@{DIGEST}\n")
    ran = agent("check", "--host-root", str(host), "--images-file", str(images), "-o", "wide")
    assert ran.code == 1, ran.both
    assert "control characters" in ran.out and "\x1b" not in ran.both


# -- the images (checks) file ----------------------------------------------------------------


def check_file(host: Path, path: Path | str, stdin: Optional[bytes] = None) -> Ran:
    return agent("check", "--host-root", str(host), "--images-file", str(path), stdin=stdin)


def test_images_file_not_utf8(host: Path, tmp_path: Path) -> None:
    images = tmp_path / "images.txt"
    images.write_bytes(f"{REF}\nquay.io/\xff\n".encode("latin-1"))
    refused(check_file(host, images), 2, str(images), "not UTF-8", "line 2")


def test_images_file_from_stdin_not_utf8(host: Path) -> None:
    refused(check_file(host, "-", stdin=b"quay.io/\xfe\n"), 2, "standard input", "not UTF-8")


def test_images_file_is_a_fifo(host: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "images.txt"
    os.mkfifo(fifo)
    refused(check_file(host, fifo), 2, str(fifo), "FIFO")


def test_images_file_is_a_directory(host: Path, tmp_path: Path) -> None:
    refused(check_file(host, tmp_path), 2, str(tmp_path), "directory")


def test_images_file_over_the_cap(host: Path, tmp_path: Path) -> None:
    images = tmp_path / "images.txt"
    with images.open("ab") as handle:
        handle.truncate(4 * 1024 * 1024 + 1)
    refused(check_file(host, images), 2, str(images), "larger than")


def test_images_file_missing(host: Path, tmp_path: Path) -> None:
    refused(check_file(host, tmp_path / "none.txt"), 2, "none.txt", "no such file")


def test_images_file_with_two_references_on_a_line(host: Path, tmp_path: Path) -> None:
    images = tmp_path / "images.txt"
    images.write_text(f"{REF} {REF}\n")
    refused(check_file(host, images), 2, f"{images}:1", "one image reference per line")


# -- analyze: logs from elsewhere ------------------------------------------------------------


def analyze(host: Path, log: Path | str, *extra: str, stdin: Optional[bytes] = None) -> Ran:
    return agent("analyze", str(log), "--host-root", str(host), "--image", REF, *extra, stdin=stdin)


def test_analyze_log_is_a_fifo(host: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pull.log"
    os.mkfifo(fifo)
    refused(analyze(host, fifo), 2, str(fifo), "FIFO")


def test_analyze_log_over_the_cap(host: Path, tmp_path: Path) -> None:
    log = tmp_path / "pull.log"
    with log.open("ab") as handle:
        handle.truncate(64 * 1024 * 1024 + 1)
    refused(analyze(host, log), 2, str(log), "larger than the 64 MiB")


def _pull_log(*error_lines: str) -> str:
    body = " ".join(error_lines).replace('"', '\\"')
    return (
        'time="2024-01-01T00:00:00Z" level=debug msg="Trying to access '
        f'\\"{REF}\\""\n'
        f'time="2024-01-01T00:00:01Z" level=debug msg="Accessing \\"{REF}\\" failed: '
        f'reading manifest: denied: {body}"\n'
        f"Error: initializing source docker://{REF}: reading manifest: denied: {body}\n"
    )


SECRETS = {
    "cookie": ("Set-Cookie: session=SESSION-SECRET-42; Path=/", "SESSION-SECRET-42"),
    "cookie-request": ("Cookie: sid=COOKIE-SECRET-43", "COOKIE-SECRET-43"),
    "s3": (
        "https://b.s3.amazonaws.com/o?X-Amz-Credential=AKIAEXAMPLE99&X-Amz-Signature=5ig5ig5ig",
        "AKIAEXAMPLE99",
    ),
    "s3-signature": ("https://b.s3.amazonaws.com/o?X-Amz-Signature=5ig5ig5ig99", "5ig5ig5ig99"),
    "gcs": ("https://storage.googleapis.com/b/o?X-Goog-Signature=900gle5ig", "900gle5ig"),
    "azure": ("https://a.blob.core.windows.net/c/b?sv=1&sig=AzureSig%3D77", "AzureSig%3D77"),
    "cloudfront": ("https://cdn.example/x?Signature=CloudFrontSig88&Key-Pair-Id=K", "CloudFront"),
    "github": ("token ghp_" + "A1b2" * 9, "ghp_" + "A1b2" * 9),
    "gitlab": ("token glpat-" + "x9Y8" * 5, "glpat-" + "x9Y8" * 5),
    "jwt": (
        "bearer-less eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzZWNyZXQifQ.c2lnbmF0dXJlMTIz",
        "eyJzdWIiOiJzZWNyZXQifQ",
    ),
    "base64-user-password": (
        "credentials " + base64.b64encode(b"robot:hunter2-hunter2").decode(),
        base64.b64encode(b"robot:hunter2-hunter2").decode(),
    ),
}


@pytest.mark.parametrize("case", sorted(SECRETS))
def test_analyze_redacts_every_output(host: Path, tmp_path: Path, case: str) -> None:
    text, secret = SECRETS[case]
    log = tmp_path / "pull.log"
    log.write_text(_pull_log(text))
    for output in ("json", "table", "wide"):
        ran = analyze(host, log, "-o", output)
        assert ran.code == 1, ran.both
        assert secret not in ran.both, f"{case} leaked in -o {output}:\n{ran.out}"
    assert "REDACTED" in analyze(host, log, "-o", "json").out


def test_analyze_trims_an_error_body(host: Path, tmp_path: Path) -> None:
    log = tmp_path / "pull.log"
    log.write_text(_pull_log("<html>" + "x" * 50_000 + "</html>"))
    ran = analyze(host, log, "-o", "json")
    (image,) = json.loads(ran.out)["images"]
    assert len(image["attempts"][0]["message"]) < 2200
    assert "more characters" in image["attempts"][0]["message"]
    assert len(image["finalError"]) < 4200


def test_analyze_escapes_control_characters_of_a_log(host: Path, tmp_path: Path) -> None:
    log = tmp_path / "pull.log"
    log.write_text(_pull_log("evil \x1b]0;owned\x07 \x1b[2J body"))
    for output in ("table", "wide"):
        ran = analyze(host, log, "-o", output)
        assert ran.code == 1
        assert "evil" in ran.out or output == "table"
        assert not {"\x1b", "\x07"} & set(ran.out)


def test_analyze_log_not_utf8_is_read_leniently(host: Path, tmp_path: Path) -> None:
    log = tmp_path / "pull.log"
    log.write_bytes(_pull_log("caf\xe9").encode("latin-1"))
    ran = analyze(host, log, "-o", "json")
    assert ran.code == 1, ran.both
    assert json.loads(ran.out)["images"][0]["attempts"][0]["reason"] == "forbidden"


# -- kubeconfigs -----------------------------------------------------------------------------


def collect_with(kubeconfig: Path) -> Ran:
    return agent("collect", "--kubeconfig", str(kubeconfig))


def kubeconfig(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def _valid_kubeconfig(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
    }
    document.update(overrides)
    return document


def test_kubeconfig_binary(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_bytes(bytes(range(256)) * 4)
    refused(collect_with(path), 2, str(path), "not UTF-8")


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"clusters": {"k": {"server": "https://127.0.0.1:9"}}}, "clusters must be a list"),
        ({"contexts": ["c"]}, "contexts[0] must be a mapping"),
        ({"contexts": [{"name": "c", "context": "k"}]}, "context must be a mapping"),
        ({"current-context": ["c"]}, "current-context must be a string"),
        (
            {"clusters": [{"name": "k", "cluster": {"server": ["https://127.0.0.1:9"]}}]},
            "server must be a string",
        ),
        (
            {"users": [{"name": "u", "user": {"token": {"a": 1}}}]},
            "token must be a string",
        ),
        (
            {
                "clusters": [
                    {
                        "name": "k",
                        "cluster": {
                            "server": "https://127.0.0.1:9",
                            "certificate-authority-data": "%%%",
                        },
                    }
                ]
            },
            "certificate-authority-data: not valid base64",
        ),
        (
            {"users": [{"name": "u", "user": {"token": "abc\r\nX-Injected: 1"}}]},
            "control characters",
        ),
        (
            {"clusters": [{"name": "k", "cluster": {"insecure-skip-tls-verify": "yes"}}]},
            "insecure-skip-tls-verify must be a boolean",
        ),
    ],
    ids=[
        "clusters-mapping",
        "context-string",
        "context-body-string",
        "current-context-list",
        "server-list",
        "token-mapping",
        "ca-data-not-base64",
        "token-header-injection",
        "insecure-string",
    ],
)
def test_kubeconfig_wrong_types(tmp_path: Path, overrides: dict[str, Any], named: str) -> None:
    path = kubeconfig(tmp_path, _valid_kubeconfig(**overrides))
    refused(collect_with(path), 2, str(path), named)


def test_kubeconfig_not_a_mapping(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path, "- a\n- b\n")
    refused(collect_with(path), 2, str(path), "not a mapping")


def test_kubeconfig_nested_deeply(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path, "a: " + "[" * 5000 + "]" * 5000 + "\n")
    refused(collect_with(path), 2, str(path), "nested")


def test_kubeconfig_alias_bomb_ends_quickly(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 12)]
    path = kubeconfig(tmp_path, "\n".join(lines) + "\ncurrent-context: 7\n")
    ran = collect_with(path)
    assert ran.code == 2, ran.both  # context "7" is not defined: the bomb was never expanded
    assert "'7'" in ran.err


def test_kubeconfig_is_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "kubeconfig"
    os.mkfifo(fifo)
    refused(collect_with(fifo), 2, str(fifo))


# -- collect --from-file -----------------------------------------------------------------------


def _report(node: Any, verdict: str = "pass", **extra: Any) -> dict[str, Any]:
    return {
        "schemaVersion": 1,
        "node": node,
        "checkedAt": "2026-01-01T00:00:00Z",
        "verdict": verdict,
        "images": [],
        **extra,
    }


def _configmap(name: str, report: Any, *, annotation: Any = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": f"mirror-agent-report-{name}"}
    if annotation is not None:
        metadata["annotations"] = {"mirror-agent.io/node": annotation}
    text = report if isinstance(report, str) else json.dumps(report)
    return {"kind": "ConfigMap", "metadata": metadata, "data": {"report.json": text}}


def collect_file(tmp_path: Path, items: Sequence[Any], *extra: str) -> Ran:
    path = tmp_path / "reports.json"
    path.write_text(json.dumps({"kind": "ConfigMapList", "items": list(items)}))
    return agent("collect", "--from-file", str(path), *extra)


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ("[1,2]", "must be a JSON object, not a list"),
        (_report(5), "node must be a string, not a number"),
        (_report("n", verdict="bogus"), "verdict 'bogus' is not one of"),
        (_report("n", images=[{"image": 7, "verdict": "pass"}]), "images[0].image"),
        (_report("n", images="all"), "images must be a list"),
        (_report("n", findings=[{"code": "x"}]), "findings[0].severity is missing"),
        (_report("n", registriesConf=[]), "registriesConf must be an object"),
        ("{" * 20 + "not json", "not valid JSON"),
        ('{"a":' * 5000 + "1" + "}" * 5000, "nested"),
    ],
    ids=[
        "list",
        "node-number",
        "verdict-unknown",
        "image-number",
        "images-string",
        "finding-incomplete",
        "registries-conf-list",
        "not-json",
        "deep",
    ],
)
def test_collect_one_malformed_report_leaves_the_summary_intact(
    tmp_path: Path, bad: Any, named: str
) -> None:
    items = [_configmap("good", _report("good")), _configmap("bad", bad)]
    ran = collect_file(tmp_path, items, "-o", "json")
    assert ran.code == 1, ran.both  # the invalid report is an error row
    document = json.loads(ran.out)
    rows = {row["node"]: row for row in document["nodes"]}
    assert rows["good"]["verdict"] == "pass"
    bad_row = rows["mirror-agent-report-bad"]
    assert bad_row["verdict"] == "error"
    assert bad_row["findings"][0].startswith("invalid-report:")
    assert named in bad_row["findings"][0]
    table = collect_file(tmp_path, items)  # grouped: the healthy node counted, not named
    assert "mirror-agent-report-bad" in table.out and "1 pass" in table.out
    wide = collect_file(tmp_path, items, "-o", "wide")
    assert "mirror-agent-report-bad" in wide.out and "good" in wide.out


def test_collect_report_with_control_characters_is_escaped(tmp_path: Path) -> None:
    evil = "node\x1b]0;owned\x07"
    report = _report(
        evil,
        verdict="fail",
        findings=[{"code": "x", "severity": "fail", "message": "\x1b[2Jcleared"}],
    )
    ran = collect_file(tmp_path, [_configmap("evil", report, annotation=evil)], "-o", "wide")
    assert ran.code == 1
    assert "\x1b" not in ran.out and "\\x1b]0;owned" in ran.out
    for output in ("markdown", "junit"):
        assert "\x1b" not in collect_file(tmp_path, [_configmap("e", report)], "-o", output).out


def test_collect_objects_of_the_wrong_shape(tmp_path: Path) -> None:
    items = [
        {"kind": "ConfigMap", "metadata": ["x"], "data": {"report.json": "{}"}},
        {"kind": "ConfigMap", "metadata": {"name": 5}, "data": ["report.json"]},
        _configmap("good", _report("good")),
    ]
    nodes = tmp_path / "nodes.json"
    nodes.write_text(
        json.dumps(
            {
                "kind": "NodeList",
                "items": [
                    {"metadata": {"name": "good", "labels": ["x"], "annotations": "y"}},
                    {"metadata": "broken"},
                    {"metadata": {"name": "n2"}, "spec": {"taints": "all"}},
                ],
            }
        )
    )
    ran = collect_file(tmp_path, items, "--nodes-file", str(nodes), "-o", "json")
    document = json.loads(ran.out)
    assert {row["node"] for row in document["nodes"]} >= {"good", "n2"}


def test_collect_from_file_deeply_nested(tmp_path: Path) -> None:
    path = tmp_path / "reports.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    refused(agent("collect", "--from-file", str(path)), 2, str(path), "nested")


def test_collect_from_file_is_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "reports.json"
    os.mkfifo(fifo)
    refused(agent("collect", "--from-file", str(fifo)), 2, str(fifo), "FIFO")


def test_collect_from_stdin_not_utf8(tmp_path: Path) -> None:
    ran = agent("collect", "--from-file", "-", stdin=b'{"items": ["\xff"]}')
    refused(ran, 2, "standard input", "not UTF-8")
