"""Hostile inputs for what came after issue 10's cases: ``agent plan``'s files and a
kubeconfig's ``exec`` plugin, proxy and impersonation fields. Each runs the real ``agent``
as a process under the hang guard of :mod:`tests.unit.test_hostile_inputs` (exit code,
culprit named, no traceback, never exit 70)."""

from __future__ import annotations

import http.server
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_hostile_inputs import (
    DIGEST,
    Ran,
    _valid_kubeconfig,
    agent,
    collect_with,
    kubeconfig,
    refused,
)

IDMS_TEXT = """\
apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata:
  name: m
spec:
  imageDigestMirrors:
  - source: quay.io/team
    mirrors: [mirror.example.com/team]
"""


def plan(tmp_path: Path, objects: Path, *extra: str) -> Ran:
    conf = tmp_path / "registries.conf"
    conf.write_text("unqualified-search-registries = []\n")
    return agent(
        "plan",
        "-f",
        str(objects),
        "--registries-conf",
        str(conf),
        "--ocp-version",
        "4.16",
        "--image",
        f"quay.io/team/app@{DIGEST}",
        *extra,
    )


def test_plan_valid_file_is_planned(tmp_path: Path) -> None:
    """The baseline the cases below break: the same command on a good file plans."""
    objects = tmp_path / "idms.yaml"
    objects.write_text(IDMS_TEXT)
    ran = plan(tmp_path, objects)
    assert ran.code == 0, ran.both
    assert "mirror.example.com/team" in ran.out


def test_plan_file_is_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "objects.yaml"
    os.mkfifo(fifo)
    refused(plan(tmp_path, fifo), 2, str(fifo), "FIFO")


def test_plan_file_is_a_directory(tmp_path: Path) -> None:
    folder = tmp_path / "objects"
    folder.mkdir()
    refused(plan(tmp_path, folder), 2, str(folder))


def test_plan_file_is_binary(tmp_path: Path) -> None:
    objects = tmp_path / "objects.yaml"
    objects.write_bytes(b"kind: ImageDigestMirrorSet\n" + bytes(range(128, 256)))
    refused(plan(tmp_path, objects), 2, str(objects), "not UTF-8", "line 2")


def test_plan_file_nested_deeply(tmp_path: Path) -> None:
    objects = tmp_path / "objects.yaml"
    objects.write_text("kind: ImageDigestMirrorSet\nspec: " + "[" * 5000 + "]" * 5000 + "\n")
    refused(plan(tmp_path, objects), 2, str(objects), "nested")


def test_plan_file_nested_past_the_document_bound(tmp_path: Path) -> None:
    """Deep enough to pass the YAML parser, too deep for the agent's walks."""
    objects = tmp_path / "objects.yaml"
    objects.write_text("kind: ImageDigestMirrorSet\nspec: " + "[" * 150 + "]" * 150 + "\n")
    refused(plan(tmp_path, objects), 2, str(objects), "nested more than 100 levels")


def test_plan_file_with_a_date_out_of_range(tmp_path: Path) -> None:
    objects = tmp_path / "objects.yaml"
    objects.write_text(IDMS_TEXT + "created: 2026-13-45\n")  # month 13: a ValueError
    refused(plan(tmp_path, objects), 2, str(objects), "not YAML")


def test_plan_alias_bomb_ends_quickly(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 12)]
    objects = tmp_path / "objects.yaml"
    objects.write_text("\n".join(lines) + "\nkind: 7\n")
    ran = plan(tmp_path, objects)
    assert ran.code == 2, ran.both


def _idms(**spec_or_top: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "apiVersion": "config.openshift.io/v1",
        "kind": "ImageDigestMirrorSet",
        "metadata": {"name": "m"},
        "spec": {"imageDigestMirrors": [{"source": "quay.io/team", "mirrors": ["mirror.x/team"]}]},
    }
    document.update(spec_or_top)
    return document


def _set(**fields: Any) -> dict[str, Any]:
    return _idms(spec={"imageDigestMirrors": [{"source": "quay.io/team", **fields}]})


WRONG_OBJECTS = {
    "spec-list": (_idms(spec=[[[]]]), "spec: must be an object"),
    "spec-string": (_idms(spec="mirrors"), "spec: must be an object"),
    "sets-mapping": (_idms(spec={"imageDigestMirrors": {"source": "quay.io/team"}}), "spec"),
    "set-string": (_idms(spec={"imageDigestMirrors": ["quay.io/team"]}), "imageDigestMirrors[0]"),
    "source-list": (_set(source=["quay.io/team"], mirrors=["mirror.x/team"]), "source"),
    "mirrors-string": (_set(mirrors="mirror.x/team"), "mirrors"),
    "mirror-number": (_set(mirrors=[42]), "mirrors"),
    "policy-list": (_set(mirrors=["mirror.x/team"], mirrorSourcePolicy=["x"]), "mirrorSource"),
    "metadata-list": (_idms(metadata=["m"]), "metadata"),
    "name-mapping": (_idms(metadata={"name": {"a": 1}}), "name"),
    "kind-list": (_idms(kind=["ImageDigestMirrorSet"]), "kind"),
}


@pytest.mark.parametrize("case", sorted(WRONG_OBJECTS))
def test_plan_object_with_wrong_field_types(tmp_path: Path, case: str) -> None:
    """Refused as invalid objects (exit 2) with the field named, never a crash."""
    document, named = WRONG_OBJECTS[case]
    objects = tmp_path / "objects.json"
    objects.write_text(json.dumps(document))
    ran = plan(tmp_path, objects)
    assert ran.code == 2, ran.both
    assert named in ran.both, ran.both


def test_plan_image_config_with_wrong_field_types(tmp_path: Path) -> None:
    objects = tmp_path / "objects.json"
    image_config = {
        "apiVersion": "config.openshift.io/v1",
        "kind": "Image",
        "metadata": {"name": "cluster"},
        "spec": {"registrySources": {"blockedRegistries": "quay.io", "insecureRegistries": 3}},
    }
    objects.write_text(json.dumps(image_config))
    ran = plan(tmp_path, objects)
    assert ran.code == 2, ran.both
    assert "registrySources" in ran.both, ran.both


def test_plan_object_with_control_characters_is_escaped(tmp_path: Path) -> None:
    objects = tmp_path / "objects.json"
    objects.write_text(json.dumps(_idms(metadata={"name": "m\x1b]0;owned\x07"})))
    ran = plan(tmp_path, objects)
    assert "\x1b" not in ran.out and "\x07" not in ran.out, ran.out
    assert "\\x1b" in ran.both, ran.both


def test_plan_images_file_is_a_fifo(tmp_path: Path) -> None:
    objects = tmp_path / "idms.yaml"
    objects.write_text(IDMS_TEXT)
    fifo = tmp_path / "images.txt"
    os.mkfifo(fifo)
    refused(plan(tmp_path, objects, "--images-file", str(fifo)), 2, str(fifo), "FIFO")


def test_plan_registries_conf_is_binary(tmp_path: Path) -> None:
    objects = tmp_path / "idms.yaml"
    objects.write_text(IDMS_TEXT)
    conf = tmp_path / "bad.conf"
    conf.write_bytes(b"\xff\xfe[[registry]]\n")
    ran = agent("plan", "-f", str(objects), "--registries-conf", str(conf), "--ocp-version", "4.16")
    refused(ran, 2, str(conf), "not UTF-8")


# -- a kubeconfig's exec plugin, proxy and impersonation -----------------------------------

EXEC_V1 = {"apiVersion": "client.authentication.k8s.io/v1", "interactiveMode": "Never"}


def _exec_user(exec_section: Any, **user: Any) -> dict[str, Any]:
    return _valid_kubeconfig(users=[{"name": "u", "user": {"exec": exec_section, **user}}])


@pytest.mark.parametrize(
    ("document", "named"),
    [
        (_exec_user("kubelogin"), "exec must be a mapping, not a string"),
        (_exec_user({**EXEC_V1, "command": ["kubelogin"]}), "command must be a string"),
        (_exec_user({**EXEC_V1, "command": "k", "args": "--x"}), "args must be a list"),
        (_exec_user({**EXEC_V1, "command": "k", "args": [1]}), "args must be a list of strings"),
        (_exec_user({**EXEC_V1, "command": "k", "env": {"A": "b"}}), "env must be a list"),
        (_exec_user({**EXEC_V1, "command": "k", "env": [{"name": "A"}]}), "env[0]"),
        (
            _exec_user({**EXEC_V1, "command": "k", "interactiveMode": ["Never"]}),
            "interactiveMode must be a string",
        ),
        (
            _exec_user({**EXEC_V1, "command": "k", "provideClusterInfo": "yes"}),
            "provideClusterInfo must be a boolean",
        ),
        (
            _exec_user({**EXEC_V1, "command": "k", "installHint": {"a": 1}}),
            "installHint must be a string",
        ),
        (_exec_user({**EXEC_V1, "apiVersion": ["v1"], "command": "k"}), "apiVersion"),
        (
            _valid_kubeconfig(users=[{"name": "u", "user": {"token": "t", "as": ["admin"]}}]),
            "as must be a string",
        ),
        (
            _valid_kubeconfig(
                users=[{"name": "u", "user": {"token": "t", "as": "a", "as-groups": "g"}}]
            ),
            "as-groups must be a list",
        ),
        (
            _valid_kubeconfig(
                users=[{"name": "u", "user": {"token": "t", "as": "a", "as-user-extra": ["x"]}}]
            ),
            "as-user-extra must be a mapping",
        ),
        (
            _valid_kubeconfig(
                clusters=[
                    {"name": "k", "cluster": {"server": "https://127.0.0.1:9", "proxy-url": ["p"]}}
                ]
            ),
            "proxy-url must be a string",
        ),
        (
            _valid_kubeconfig(
                clusters=[
                    {
                        "name": "k",
                        "cluster": {"server": "https://127.0.0.1:9", "tls-server-name": 7.5},
                    }
                ]
            ),
            "",  # a number reads as its text, as kubectl quotes it: no crash is the point
        ),
        (
            _valid_kubeconfig(
                clusters=[
                    {
                        "name": "k",
                        "cluster": {"server": "https://127.0.0.1:9", "disable-compression": "no"},
                    }
                ]
            ),
            "disable-compression must be a boolean",
        ),
        (
            _valid_kubeconfig(
                clusters=[
                    {"name": "k", "cluster": {"server": "https://127.0.0.1:9", "extensions": {}}}
                ],
                users=[
                    {
                        "name": "u",
                        "user": {"exec": {**EXEC_V1, "command": "k", "provideClusterInfo": True}},
                    }
                ],
            ),
            "extensions must be a list",
        ),
        (
            _valid_kubeconfig(
                users=[{"name": "u", "user": {"client-certificate-data": "x", "client-key": 3}}]
            ),
            "client-certificate-data: not valid base64",
        ),
    ],
    ids=[
        "exec-string",
        "command-list",
        "args-string",
        "args-numbers",
        "env-mapping",
        "env-entry-without-value",
        "interactive-mode-list",
        "provide-cluster-info-string",
        "install-hint-mapping",
        "api-version-list",
        "as-list",
        "as-groups-string",
        "as-user-extra-list",
        "proxy-url-list",
        "tls-server-name-number",
        "disable-compression-string",
        "extensions-mapping",
        "client-certificate-data-not-base64",
    ],
)
def test_kubeconfig_exec_proxy_impersonation_wrong_types(
    tmp_path: Path, document: dict[str, Any], named: str
) -> None:
    path = kubeconfig(tmp_path, document)
    ran = collect_with(path)
    if not named:  # accepted: the API at 127.0.0.1:9 refuses the connection (exit 69), no crash
        assert ran.code in (2, 69), ran.both
        return
    refused(ran, 2, str(path), named)


def test_kubeconfig_exec_plugin_printing_deep_json(tmp_path: Path) -> None:
    """A plugin's ExecCredential nested past the bound: an error naming the plugin."""
    plugin = tmp_path / "plugin.sh"
    plugin.write_text("#!/bin/sh\nprintf '%s' '" + "[" * 5000 + "]" * 5000 + "'\n")
    plugin.chmod(0o755)
    document = _exec_user({**EXEC_V1, "command": str(plugin)})
    ran = collect_with(kubeconfig(tmp_path, document))
    assert ran.code == 69, ran.both  # the plugin failed: the environment, as any plugin error
    assert "ExecCredential" in ran.err or str(plugin) in ran.err, ran.err


# -- an API server answering with JSON nested past the bound --------------------------------


class _DeepAnswers(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = ("[" * 5000 + "]" * 5000).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_api_answer_nested_deeply(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _DeepAnswers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        address = f"http://127.0.0.1:{server.server_address[1]}"
        clusters = [{"name": "k", "cluster": {"server": address}}]
        ran = collect_with(kubeconfig(tmp_path, _valid_kubeconfig(clusters=clusters)))
    finally:
        server.shutdown()
        server.server_close()
    assert ran.code == 69, ran.both  # the API is not usable: the environment's fault
    assert "nested more than 100 levels" in ran.err, ran.err
