"""Every command the checklist prints, checked for syntax and meaning.

Broken clusters make every item print each of its commands; each command is then checked
by ``bash -n`` (it pastes: quotes, heredocs, no ``<placeholder>`` redirections) and parsed
with :mod:`shlex` against what ``oc`` really accepts: the subcommand, its flags and their
values, the resource and namespace it acts on, the annotation it sets, the JSON it patches
and the objects it applies. A command this test does not know fails it, so a new command
cannot go unchecked.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Iterator, Sequence
from typing import Any, Callable, Optional

import pytest
import yaml

from agent import reference
from agent.checklist.compare import coverage
from agent.checklist.items import POST_UPGRADE, PRE_UPGRADE
from agent.checklist.items.checks_cleaned_up import checks_cleanup_item
from agent.checklist.items.cluster_version import cluster_version_item
from agent.checklist.items.common import PLACEHOLDERS
from agent.checklist.items.drain_blockers import drain_blockers_item
from agent.checklist.items.machine_health_checks import (
    health_checks_paused_item,
    health_checks_resumed_item,
)
from agent.checklist.items.mirror_rules import mirror_rules_item
from agent.checklist.items.node_reports import node_reports_item
from agent.checklist.items.pools_and_nodes import pools_and_nodes_item
from agent.checklist.items.registry_sources import registry_sources_item
from agent.checklist.items.release_resolves_through_mirror import node_releases, release_item
from agent.checklist.items.release_signature import signature_item
from agent.checklist.items.upgrade_command import upgrade_command_item
from agent.checklist.model import Checklist, Item, Outcome
from agent.checklist.snapshot import (
    PAUSED_ANNOTATION,
    Reports,
    Snapshot,
)
from agent.checklist.version import cluster_version_of
from agent.kube.contract import (
    CHECKLIST_KEY,
    CHECKS_CONFIGMAP,
    IMAGES_KEY,
    MCD_REASON,
    MCD_STATE,
    REPORT_KEY,
    REPORT_NAME_PREFIX,
)
from agent.output.checklist import table
from tests.support.fake_apiserver.validation import dns1123_subdomain_errors
from tests.unit.checklist.factories import (
    BACKUP,
    DIGEST,
    EARLIER,
    EFFECTIVE,
    MIRROR,
    NS,
    PAYLOAD,
    RELEASE,
    REPORTS_NS,
    SINCE,
    TARGET,
    budget,
    cluster_version,
    entry,
    forbidden,
    health_check,
    healthy_snapshot,
    idms,
    image_config,
    itms,
    node,
    pool,
    release_image,
    report_configmap,
    target,
)

VERSION = cluster_version_of(cluster_version(), None, post=False)
EXAMPLE = {  # what an administrator sets the variables to
    "PULL_SECRET": "/root/pull-secret.json",
    "OCP_RELEASE": "4.15.3",
    "ARCHITECTURE": "x86_64",
    "MIRROR_REPOSITORY": "mirror.corp.example:8443/ocp4/openshift4",
    "OC_MIRROR_WORKSPACE": "/srv/oc-mirror",
    "MIRROR_CA": "/root/mirror-ca.pem",
}


# --- clusters that make every item print every command -----------------------------------


def _not_served(*attempts: tuple[str, str, str, Optional[str]]) -> dict[str, Any]:
    return release_image(
        served_by=None,
        kind=None,
        verdict="fail",
        attempts=list(attempts),
        findings=[("not-served", "fail", "no source served the image")],
    )


def release_outcomes() -> Iterator[Outcome]:
    names = ("w-missing", "w-old", "w-source", "w-unknown", "w-denied", "w-tls", "w-wrong")
    snapshot = healthy_snapshot(
        nodes=[node(n) for n in names],
        reports=Reports.of(
            [
                report_configmap("w-old", checked_at=EARLIER),
                report_configmap(
                    "w-source",
                    images=[
                        release_image(
                            served_by=TARGET,
                            kind="source",
                            verdict="warn",
                            attempts=[(TARGET, "source", "served", None)],
                        )
                    ],
                ),
                report_configmap(
                    "w-unknown",
                    images=[
                        _not_served(
                            (f"{MIRROR}@{DIGEST}", "mirror", "failed", "manifest-unknown"),
                            (TARGET, "source", "failed", "dns"),
                        )
                    ],
                ),
                report_configmap(
                    "w-denied",
                    images=[
                        _not_served(
                            (f"{MIRROR}@{DIGEST}", "mirror", "failed", "unauthorized"),
                            (TARGET, "source", "failed", "dns"),
                        )
                    ],
                ),
                report_configmap(
                    "w-tls",
                    images=[
                        _not_served(
                            (f"{BACKUP}@{DIGEST}", "mirror", "failed", "tls"),
                            (TARGET, "source", "failed", "dns"),
                        )
                    ],
                ),
                report_configmap(
                    "w-wrong",
                    images=[
                        _not_served(
                            (f"{MIRROR}@{DIGEST}", "mirror", "failed", "manifest-unknown"),
                            (TARGET, "source", "failed", "manifest-unknown"),
                        )
                    ],
                ),
            ]
        ),
    )
    releases = node_releases(snapshot, target(), since=SINCE, cutoff=None)
    yield release_item(
        snapshot,
        target(),
        releases,
        since=None,
        payload_mirrors=(f"{MIRROR}-payload",),
        write_problem=forbidden("patch", "configmaps", NS),
    )
    bare = healthy_snapshot(daemonset=None, reports=Reports())
    yield release_item(bare, target(), [], since=SINCE)
    many = healthy_snapshot(nodes=[node(f"w-{n}") for n in range(12)], reports=Reports())
    releases = node_releases(many, target(), since=SINCE, cutoff=None)
    yield release_item(many, target(), releases, since=SINCE)


EXISTING_MIRROR_SETS: set[str] = set()  # the names the clusters below hold


def holding(snapshot: Snapshot) -> Snapshot:
    for objects in (snapshot.icsps, snapshot.idmss, snapshot.itmss):
        assert isinstance(objects, list)
        EXISTING_MIRROR_SETS.update(obj["metadata"]["name"] for obj in objects)
    return snapshot


def mirror_rules_outcomes() -> Iterator[Outcome]:
    from tests.unit.checklist.factories import rendered

    # An existing mirror set with the name a fixed proposal would take.
    named = holding(healthy_snapshot(idmss=[idms("release-mirrors", (RELEASE, [MIRROR]))]))
    yield mirror_rules_item(named, target(), rendered(named), VERSION)

    oc_mirror = "mirror.corp.example:8443/ocp"
    only_release = [entry(RELEASE, [f"{oc_mirror}/release-images"])]
    for version in ((4, 14), (4, 12)):
        uncovered = holding(
            healthy_snapshot(
                idmss=[idms("oc-mirror", (RELEASE, [f"{oc_mirror}/release-images"]))],
                reports=Reports.of([report_configmap("worker-0", effective=only_release)]),
            )
        )
        yield mirror_rules_item(uncovered, target(), rendered(uncovered, version), VERSION)
        tagged = holding(
            healthy_snapshot(
                idmss=[idms("oc-mirror", (RELEASE, [f"{oc_mirror}/release-images"]))],
                itmss=[itms("oc-mirror", (PAYLOAD, [f"{oc_mirror}/release"]))],
                reports=Reports.of([report_configmap("worker-0", effective=only_release)]),
            )
        )
        yield mirror_rules_item(tagged, target(), rendered(tagged, version), VERSION)
    conflicting = idms("other", (RELEASE, [BACKUP]))
    conflicting["spec"]["imageDigestMirrors"][0]["mirrorSourcePolicy"] = "NeverContactSource"
    refused = healthy_snapshot(idmss=[idms("release", (RELEASE, [MIRROR])), conflicting])
    yield mirror_rules_item(refused, target(), rendered(refused), VERSION)
    drifted = json.loads(json.dumps(EFFECTIVE))
    drifted[1]["mirrors"] = []
    shadow = entry(f"{PAYLOAD}/sub")
    rolling = healthy_snapshot(
        nodes=[
            node("worker-0"),
            node("worker-1", desired="rendered-worker-2"),
            node("infra-0", role="infra", current="rendered-infra-1"),
        ],
        reports=Reports.of(
            [
                report_configmap("worker-0", effective=[*EFFECTIVE, shadow]),
                report_configmap("worker-1", effective=drifted),
                report_configmap("infra-0", current="rendered-infra-1", effective=drifted),
            ]
        ),
    )
    yield mirror_rules_item(rolling, target(), rendered(rolling), VERSION)


def other_pre_outcomes() -> Iterator[Outcome]:
    from tests.unit.checklist.factories import rendered

    yield signature_item(healthy_snapshot(signatures=[]), target())
    yield health_checks_paused_item(
        healthy_snapshot(health_checks=[health_check("infra", paused=False)])
    )
    yield pools_and_nodes_item(
        healthy_snapshot(
            pools=[pool("worker", degraded=True, updated=False, paused=True)],
            nodes=[node("worker-0", ready=False), node("worker-1", unschedulable=True)],
        )
    )
    yield drain_blockers_item(healthy_snapshot(budgets=[budget("app", "db", allowed=0)]))
    insecure = healthy_snapshot(image_config=image_config(insecure=[MIRROR.split("/")[0]]))
    rendering = rendered(insecure)
    yield registry_sources_item(insecure, rendering, [coverage(rendering.config, RELEASE, DIGEST)])
    releases = node_releases(healthy_snapshot(), target(), since=SINCE, cutoff=None)
    yield upgrade_command_item(
        releases, target(), coverage(rendered(healthy_snapshot()).config, RELEASE, DIGEST)
    )


def post_outcomes() -> Iterator[Outcome]:
    progressing = cluster_version(
        version="4.15.3", image=TARGET, state="Partial", progressing=True, failing=True
    )
    yield cluster_version_item(healthy_snapshot(cluster_version=progressing), target())
    still = cluster_version(version="4.15.3", image=TARGET, state="Partial", progressing=True)
    yield cluster_version_item(healthy_snapshot(cluster_version=still), target())
    yield health_checks_resumed_item(
        healthy_snapshot(health_checks=[health_check("workers", paused=True)])
    )
    yield node_reports_item(
        healthy_snapshot(
            nodes=[node("silent"), node("stale", current="rendered-worker-2"), node("failing")],
            reports=Reports.of(
                [
                    report_configmap("stale"),
                    report_configmap("failing", images=[_not_served()]),
                ]
            ),
        )
    )
    line = f"{TARGET}  # method=manifest requested={SINCE}"
    yield checks_cleanup_item(healthy_snapshot(checks={"data": {CHECKLIST_KEY: line + "\n"}}))
    by_hand = {"data": {IMAGES_KEY: f"{TARGET}  # method=manifest\n"}}
    updated = cluster_version(version="4.15.3", image=TARGET)
    yield checks_cleanup_item(healthy_snapshot(checks=by_hand, cluster_version=updated))


def all_commands() -> list[str]:
    outcomes = [
        *release_outcomes(),
        *mirror_rules_outcomes(),
        *other_pre_outcomes(),
        *post_outcomes(),
    ]
    return list(dict.fromkeys(c for o in outcomes for c in o.remediation))


COMMANDS = all_commands()


# --- parsing ---------------------------------------------------------------------------------


def substituted(text: str) -> str:
    for name, value in EXAMPLE.items():
        text = text.replace("${" + name + "}", value).replace("$" + name, value)
    return text


def simple_commands(command: str) -> Iterator[tuple[list[str], Optional[str]]]:
    """Each simple command of a line (split at ``&&`` and ``|``), the heredoc body last."""
    first, _, rest = command.partition("\n")
    body = None
    if rest:
        assert first.split("#", 1)[0].rstrip().endswith("<<'EOF'"), command
        assert rest.endswith("\nEOF"), command
        body, first = rest[: -len("\nEOF")], first.split("<<'EOF'", 1)[0]
    words = shlex.split(substituted(first), comments=True)
    current: list[str] = []
    for word in [*words, "&&"]:
        if word in ("&&", "|"):
            if current:
                yield current, body if word == "&&" and words[-1] == current[-1] else None
            current = []
        else:
            current.append(word)


def options(words: Sequence[str], takes_value: set[str]) -> tuple[list[str], dict[str, str]]:
    """Positional words and ``--flag=value`` / ``--flag value`` / ``-x value`` options."""
    positional, flags = [], {}
    index = 0
    while index < len(words):
        word = words[index]
        if word.startswith("-") and word != "-":
            name, equals, value = word.partition("=")
            if not equals and name in takes_value:
                index += 1
                value = words[index]
            assert name not in flags, f"{name} given twice"
            flags[name] = value
        else:
            positional.append(word)
        index += 1
    return positional, flags


def digest_reference(text: str) -> reference.ImageReference:
    parsed = reference.parse_normalized(text)
    assert parsed.digest == DIGEST, text
    return parsed


def repository(text: str) -> str:
    parsed = reference.parse_normalized(text)
    assert parsed.tag is None and parsed.digest is None, text
    return parsed.name


# --- what oc accepts, subcommand by subcommand --------------------------------------------


def check_upgrade(args: list[str], body: Optional[str]) -> None:
    positional, flags = options(args, {"--to-image"})
    assert positional == [] and set(flags) == {"--allow-explicit-upgrade", "--to-image"}
    assert flags["--allow-explicit-upgrade"] == ""
    assert digest_reference(flags["--to-image"]).name in (RELEASE, MIRROR)


def check_upgrade_status(args: list[str], body: Optional[str]) -> None:
    assert args == []  # `oc adm upgrade` alone prints the update's status


def check_release_mirror(args: list[str], body: Optional[str]) -> None:
    allowed = {
        "-a",
        "--from",
        "--to",
        "--to-release-image",
        "--print-mirror-instructions",
        "--dry-run",
        "--release-image-signature-to-dir",
    }
    positional, flags = options(args, {"-a"})
    assert positional == [] and set(flags) <= allowed, flags
    assert flags["-a"] == EXAMPLE["PULL_SECRET"]
    assert digest_reference(flags["--from"]).name == RELEASE
    repository(flags["--to"])
    if "--to-release-image" in flags:
        tagged = reference.parse_normalized(flags["--to-release-image"])
        assert tagged.tag == "4.15.3-x86_64" and tagged.digest is None
    if "--print-mirror-instructions" in flags:
        # Only from oc 4.14 (its comment says so: test_each_command_is_right); =idms only
        # (older oc prints an ICSP without the flag).
        assert flags["--print-mirror-instructions"] == "idms"
    if "--dry-run" in flags:  # prints the objects without copying anything
        assert "--from" in flags
    if "--release-image-signature-to-dir" in flags:
        assert flags["--release-image-signature-to-dir"] == "./release-signatures"


def check_release_info(args: list[str], body: Optional[str]) -> None:
    positional, flags = options(args, {"-o"})
    assert flags == {"-o": 'jsonpath={.digest}{"\\n"}'}
    (image,) = positional
    tagged = reference.parse_normalized(image)
    assert tagged.name == RELEASE and tagged.tag == "4.15.3-x86_64"


def check_apply(args: list[str], body: Optional[str]) -> None:
    positional, flags = options(args, {"-f", "-k"})
    assert positional == []
    if flags.get("-f") == "-":
        check_mirror_set(body)
        return
    assert body is None
    allowed = {
        "daemonset/",
        "./release-signatures/",
        "/srv/oc-mirror/working-dir/cluster-resources/idms-oc-mirror.yaml",
        "/srv/oc-mirror/working-dir/cluster-resources/signature-configmap.yaml",
    }
    assert (flags.get("-f") or flags.get("-k")) in allowed, flags


def check_mirror_set(body: Optional[str]) -> None:
    assert body is not None
    obj = yaml.safe_load(body)
    kinds = {
        ("config.openshift.io/v1", "ImageDigestMirrorSet"): "imageDigestMirrors",
        ("operator.openshift.io/v1alpha1", "ImageContentSourcePolicy"): "repositoryDigestMirrors",
    }
    key = kinds[(obj["apiVersion"], obj["kind"])]
    assert set(obj) == {"apiVersion", "kind", "metadata", "spec"}
    assert dns1123_subdomain_errors(obj["metadata"]["name"]) == []
    # A new object: applying an existing name would replace it and drop its mappings.
    assert obj["metadata"]["name"] not in EXISTING_MIRROR_SETS
    assert list(obj["spec"]) == [key]
    for rule in obj["spec"][key]:
        assert set(rule) == {"source", "mirrors"}
        assert repository(rule["source"]) in (RELEASE, PAYLOAD)
        for mirror in rule["mirrors"]:
            assert repository(mirror) != rule["source"]


MCO_REFUSED_KINDS = {
    "imagecontentsourcepolicy",
    "imagedigestmirrorset",
    "imagetagmirrorset",
    "image.config.openshift.io",
}


def check_get(args: list[str], body: Optional[str]) -> None:
    positional, flags = options(args, {"-n", "-o", "--field-selector"})
    (what, *name) = positional
    if what == "pods":
        assert flags["-n"] == NS and flags["-o"] == "wide" and name == []
        if "--field-selector" in flags:
            assert re.fullmatch(r"spec\.nodeName=[a-z0-9-]+", flags["--field-selector"])
    elif what == "configmap":  # a node's report: in the reports namespace
        assert flags["-n"] == REPORTS_NS and dns1123_subdomain_errors(name[0]) == []
        assert name[0].startswith(REPORT_NAME_PREFIX)
        key = REPORT_KEY.replace(".", "\\.")
        assert flags["-o"] == f"jsonpath={{.data.{key}}}"
    elif what == "pdb":
        assert flags == {"-n": "app", "-o": "yaml"} and name == ["db"]
    elif what.startswith("node/"):
        state, reason = (
            "{.metadata.annotations." + a.replace(".", "\\.") + "}" for a in (MCD_STATE, MCD_REASON)
        )
        assert flags == {"-o": f'jsonpath={state}{{"\\n"}}{reason}{{"\\n"}}'} and name == []
    elif what == "clusteroperators":
        assert flags == {} and name == []
    else:  # a mirror set or image.config the MCO refuses to render
        kind, _, object_name = what.partition("/")
        assert kind in MCO_REFUSED_KINDS and object_name and name == []
        assert flags == {"-o": "yaml"}


def check_describe(args: list[str], body: Optional[str]) -> None:
    positional, flags = options(args, set())
    (what,) = positional
    assert flags == {} and re.fullmatch(r"(mcp|node)/[a-z0-9-]+", what)


def check_wait(args: list[str], body: Optional[str]) -> None:
    positional, flags = options(args, set())
    (what,) = positional
    if what.startswith("mcp/"):
        assert flags == {"--for": "condition=Updated=True", "--timeout": "60m"}
    else:
        assert what == "clusterversion/version"
        assert flags == {"--for": "condition=Progressing=False", "--timeout": "90m"}


def check_debug(args: list[str], body: Optional[str]) -> None:
    split = args.index("--")
    assert re.fullmatch(r"node/[a-z0-9-]+", args[0]) and split == 1
    chroot, host, program, *rest = args[split + 1 :]
    assert (chroot, host) == ("chroot", "/host")
    if program == "skopeo":
        assert rest[:5] == [
            "--debug",
            "inspect",
            "--raw",
            "--authfile",
            "/var/lib/kubelet/config.json",
        ]
        assert digest_reference(rest[5].removeprefix("docker://")).name == RELEASE
    else:
        assert program == "grep" and rest[0] == "-rlF"
        assert rest[2:] == ["/etc/containers/registries.conf", "/etc/containers/registries.conf.d"]


def check_annotate(args: list[str], body: Optional[str]) -> None:
    positional, flags = options(args, {"-n"})
    kind, name, annotation = positional
    assert kind == "machinehealthcheck" and flags == {"-n": "openshift-machine-api"}
    assert dns1123_subdomain_errors(name) == []
    assert annotation in (f"{PAUSED_ANNOTATION}=", f"{PAUSED_ANNOTATION}-")


def check_set_data(args: list[str], body: Optional[str]) -> None:
    positional, flags = options(args, {"-n"})
    assert positional == ["secret/pull-secret"] and flags["-n"] == "openshift-config"
    assert flags["--from-file"] == f".dockerconfigjson={EXAMPLE['PULL_SECRET']}"


def check_create_configmap(args: list[str], body: Optional[str]) -> None:
    positional, flags = options(args, {"-n"})
    assert positional == ["mirror-ca"] and flags["-n"] == "openshift-config"
    key, _, path = flags["--from-file"].partition("=")
    # additionalTrustedCA keys are host..port: the CA of that registry
    assert key == BACKUP.split("/")[0].replace(":", "..") and path == EXAMPLE["MIRROR_CA"]


def check_patch(args: list[str], body: Optional[str]) -> None:
    positional, flags = options(args, {"-n", "-p"})
    patch = json.loads(flags["-p"])
    if positional == ["image.config.openshift.io/cluster"]:
        assert flags["--type"] == "merge"
        assert patch == {"spec": {"additionalTrustedCA": {"name": "mirror-ca"}}}
    elif positional[0].startswith("mcp/"):
        assert flags["--type"] == "merge" and patch == {"spec": {"paused": False}}
    else:
        assert positional == ["configmap", CHECKS_CONFIGMAP] and flags["-n"] == NS
        assert flags["--type"] == "json"
        assert patch == [{"op": "remove", "path": f"/data/{CHECKLIST_KEY}"}]


def check_logs(args: list[str], body: Optional[str]) -> None:
    positional, flags = options(args, {"-n", "-c"})
    assert positional == ["deployment/machine-config-controller"]
    assert flags == {"-n": "openshift-machine-config-operator", "-c": "machine-config-controller"}


def check_grep(args: list[str], body: Optional[str]) -> None:
    # The filter of a pipeline: the MCO's rendering lines, or one refusal in its own words
    # (searched as a fixed string: the words hold brackets and dots).
    if args[0] == "-F":
        (message,) = args[1:]
        assert message and "\n" not in message and message == message.strip()
    else:
        assert args == ["-i", "registr"]


def check_delete(args: list[str], body: Optional[str]) -> None:
    positional, flags = options(args, {"-n", "-l", "--field-selector"})
    assert positional == ["pod"] and flags["-n"] == NS
    assert flags["-l"] == "app.kubernetes.io/name=mirror-agent"
    assert re.fullmatch(r"spec\.nodeName=[a-z0-9-]+", flags["--field-selector"])


def check_edit(args: list[str], body: Optional[str]) -> None:
    positional, flags = options(args, {"-n"})
    assert positional == ["configmap", CHECKS_CONFIGMAP] and flags == {"-n": NS}


def check_uncordon(args: list[str], body: Optional[str]) -> None:
    (name,) = args
    assert dns1123_subdomain_errors(name) == []


def check_cleanup(args: list[str], body: Optional[str]) -> None:
    assert args == ["-n", NS]


CHECKS: dict[tuple[str, ...], Callable[[list[str], Optional[str]], None]] = {
    ("oc", "adm", "release", "mirror"): check_release_mirror,
    ("oc", "adm", "release", "info"): check_release_info,
    ("oc", "adm", "upgrade", "--allow-explicit-upgrade"): lambda a, b: check_upgrade(
        ["--allow-explicit-upgrade", *a], b
    ),
    ("oc", "adm", "upgrade"): check_upgrade_status,
    ("oc", "adm", "uncordon"): check_uncordon,
    ("oc", "apply"): check_apply,
    ("oc", "get"): check_get,
    ("oc", "describe"): check_describe,
    ("oc", "wait"): check_wait,
    ("oc", "debug"): check_debug,
    ("oc", "annotate"): check_annotate,
    ("oc", "set", "data"): check_set_data,
    ("oc", "create", "configmap"): check_create_configmap,
    ("oc", "patch"): check_patch,
    ("oc", "logs"): check_logs,
    ("oc", "delete"): check_delete,
    ("oc", "edit"): check_edit,
    ("grep",): check_grep,
    ("agent", "checklist", "cleanup"): check_cleanup,
}


def check(words: list[str], body: Optional[str]) -> tuple[str, ...]:
    for prefix in sorted(CHECKS, key=len, reverse=True):
        if tuple(words[: len(prefix)]) == prefix:
            CHECKS[prefix](words[len(prefix) :], body)
            return prefix
    raise AssertionError(f"a command this test does not know: {shlex.join(words)}")


# --- the tests ----------------------------------------------------------------------------


def test_every_item_prints_its_commands_here() -> None:
    """The broken clusters above reach every command shape the items have."""
    seen = {check(words, body) for command in COMMANDS for words, body in simple_commands(command)}
    assert seen == set(CHECKS)
    assert len(PRE_UPGRADE) + len(POST_UPGRADE) == 13  # a new item: give it a cluster above


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.split("   #")[0][:70])
def test_each_command_is_right(command: str) -> None:
    words = [w for w, _ in simple_commands(command)]
    assert words, command
    for each, body in simple_commands(command):
        check(each, body)
    # Variables only of the documented ones (the renderers say what to set them to); no
    # `<placeholder>`, which a shell reads as a redirection.
    if "--print-mirror-instructions" in command:  # a flag oc has from 4.14 only
        assert "   # oc >= 4.14;" in command, command
    used = set(re.findall(r"\$\{?([A-Z_]+)\}?", command.split("   #")[0]))
    assert used <= set(PLACEHOLDERS), used
    assert not re.search(r"<[a-z][^>]*>", command.split("   #")[0]), command


def test_every_command_is_valid_shell() -> None:
    script = "\n".join(f"true || {{\n{command}\n}}" for command in COMMANDS)
    result = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_multi_line_commands_paste_from_the_rendered_table() -> None:
    """A heredoc pasted from the table must close: its body and terminator are printed as
    the shell needs them (flush-left), not indented like the rest of the table."""
    multi_line = [c for c in COMMANDS if "\n" in c]
    assert multi_line  # the mirror sets item 2 proposes
    item = Item(
        "mirror-rules", 2, "Mirror rules", "fail", "not covered", remediation=tuple(multi_line)
    )
    checklist = Checklist(kind="pre-upgrade", generated_at="2030-01-01T10:00:00Z", items=(item,))
    lines = table(checklist).splitlines()
    blocks = []
    for index, line in enumerate(lines):
        if "<<'EOF'" in line:
            end = lines.index("EOF", index)  # the terminator alone on its line
            first = line.split("$ ", 1)[1]
            blocks.append("\n".join([first, *lines[index + 1 : end + 1]]))
    assert len(blocks) == len(multi_line)
    for block, command in zip(blocks, multi_line):
        assert block == command
        script = f"true || {{\n{block}\n}}\n"
        result = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
        assert result.returncode == 0 and result.stderr == "", result.stderr
