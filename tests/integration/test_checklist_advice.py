"""The commands and mappings ``agent checklist pre-upgrade`` recommends, end to end against
the fake API server with the simulated DaemonSet of test_checklist.py: each one exactly as
printed, and only what the cluster's evidence supports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_checklist import (  # main: where the CLI's entry point lives
    ALL_PASS_PRE,
    NS,
    Cluster,
    items,
    main,
    mco_file,
    verdicts,
)
from tests.support.fake_apiserver import FakeApiServer
from tests.unit.checklist.factories import (
    DIGEST,
    MIRROR,
    PAYLOAD,
    RELEASE,
    TARGET,
    cluster_version,
    idms,
    image_config,
    itms,
)

DOWN = "down.corp.example:5000/ocp4/openshift4"  # the first mirror: does not answer
OC_MIRROR = "mirror.corp.example:8443/ocp"  # oc-mirror: …/release-images and …/release
UPGRADE = f"oc adm upgrade --allow-explicit-upgrade --to-image {TARGET}"


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    with FakeApiServer(token="checklist-token") as server:
        lab = Cluster(server, tmp_path)
        lab.install_timing(monkeypatch)
        yield lab


def every_command(document: dict[str, Any]) -> list[str]:
    return [command for item in document["items"] for command in item["remediation"]]


def test_first_mirror_down_recommends_the_source_pull_spec(cluster: Cluster, capsys: Any) -> None:
    cluster.server.put(idms("release", (RELEASE, [DOWN, MIRROR]), (PAYLOAD, [DOWN, MIRROR])))
    conf = mco_file((PAYLOAD, [DOWN, MIRROR]), (RELEASE, [DOWN, MIRROR]))
    for name in Cluster.NODES:
        cluster.confs[name] = conf
    code, document = cluster.pre(capsys)
    assert code == 0
    assert verdicts(document) == {**ALL_PASS_PRE, "release-resolves-through-mirror": "warn"}
    upgrade = items(document)["upgrade-command"]
    assert upgrade["remediation"] == [UPGRADE]
    assert upgrade["details"]["pullSpec"] == TARGET
    assert upgrade["details"]["alternatives"] == [
        {
            "mirror": MIRROR,
            "nodes": 3,
            "command": f"oc adm upgrade --allow-explicit-upgrade --to-image {MIRROR}@{DIGEST}",
        }
    ]
    # The down mirror is named by no recommendation, and by nothing item 8 says.
    assert not any(DOWN in command for command in every_command(document))
    assert DOWN not in str(upgrade)


def test_an_uncovered_payload_is_never_mapped_to_the_down_mirror(
    cluster: Cluster, capsys: Any
) -> None:
    # The tag-only rules name both mirrors for the payload; the release reports show the
    # first one down on every node: the proposed mapping has only the working one.
    cluster.server.put(idms("release", (RELEASE, [DOWN, MIRROR])))
    cluster.server.put(itms("payload-tags", (PAYLOAD, [DOWN, MIRROR])))
    for name in Cluster.NODES:
        cluster.confs[name] = mco_file((RELEASE, [DOWN, MIRROR]))
    code, document = cluster.pre(capsys)
    assert code == 1
    rules = items(document)["mirror-rules"]
    proposal = next(c for c in rules["remediation"] if c.startswith("oc apply -f - <<'EOF'"))
    assert proposal.endswith(f"  - source: {PAYLOAD}\n    mirrors:\n    - {MIRROR}\nEOF")
    assert DOWN not in proposal
    assert [e["mirror"] for e in rules["details"]["mirrorEvidence"][PAYLOAD]] == [MIRROR]
    assert any(
        e.startswith(f"{PAYLOAD} is mapped to {DOWN} (")
        and e.endswith("not proposed: failed to serve the release on 3 node(s) (dns)")
        for e in rules["evidence"]
    ), rules["evidence"]


def test_oc_mirror_layout_with_the_payload_not_covered(cluster: Cluster, capsys: Any) -> None:
    release_images = f"{OC_MIRROR}/release-images"
    cluster.up = {release_images}
    cluster.server.put(idms("release", (RELEASE, [release_images])))
    for name in Cluster.NODES:
        cluster.confs[name] = mco_file((RELEASE, [release_images]))
    code, document = cluster.pre(capsys)
    assert code == 1
    rules = items(document)["mirror-rules"]
    assert rules["verdict"] == "fail" and rules["summary"] == f"not covered: {PAYLOAD}"
    # No mapping of the payload to the release's repository: where oc-mirror put the payload
    # (…/release) is shown by nothing the cluster holds, so the tools' output is asked for.
    assert rules["remediation"] == [
        f'oc adm release mirror -a "$PULL_SECRET" --from={TARGET} --to="$MIRROR_REPOSITORY" '
        "--print-mirror-instructions=idms --dry-run   # oc >= 4.14; mirrored with oc adm release "
        "mirror: "
        "prints the mirror set to apply; MIRROR_REPOSITORY: the --to it was mirrored with",
        'oc apply -f "$OC_MIRROR_WORKSPACE"/working-dir/cluster-resources/idms-oc-mirror.yaml'
        "   # mirrored with oc-mirror v2 (v1: oc-mirror-workspace/results-*/"
        "imageContentSourcePolicy.yaml)",
    ]
    assert not any("source: " in command for command in every_command(document))
    assert rules["details"]["mirrorEvidence"] == {PAYLOAD: []}
    # The release itself resolves through its mirror on every node.
    assert items(document)["release-resolves-through-mirror"]["verdict"] == "pass"
    upgrade = items(document)["upgrade-command"]
    assert upgrade["remediation"] == [UPGRADE] and upgrade["verdict"] == "warn"
    assert (
        f"the payload repository {PAYLOAD} is not covered (item 2): the update would pull its "
        "images from the source"
    ) in upgrade["evidence"]


def test_insecure_registries_of_image_config_are_not_mirror_rules(
    cluster: Cluster, capsys: Any
) -> None:
    internal = "registry.internal.example:5000"
    cluster.server.put(image_config(insecure=[internal]))
    code, document = cluster.pre(capsys)  # the nodes' registries.conf has no entry for it
    found = items(document)
    assert found["mirror-rules"]["verdict"] == "pass"
    assert "3 of 3 compared nodes agree with the mirror sets" in found["mirror-rules"]["evidence"]
    sources = found["registry-sources"]
    assert code == 0 and sources["verdict"] == "warn"
    assert (
        f"3 node(s) master-0, worker-0, worker-1: {internal}: image.config marks it insecure "
        "(registrySources.insecureRegistries); the node's registries.conf has no entry for it "
        "(pulls from it verify TLS; mirror resolution is unaffected)"
    ) in sources["evidence"]
    assert sources["remediation"][0].startswith("oc describe mcp/master   # ")
    # Nodes that apply it: both pass.
    applied = mco_file((PAYLOAD, [MIRROR]), (RELEASE, [MIRROR])) + (
        f'\n[[registry]]\n  prefix = ""\n  location = "{internal}"\n  insecure = true\n'
    )
    for name in Cluster.NODES:
        cluster.confs[name] = applied
    cluster.agents_react()  # within the same second, the last reports would still count
    code, document = cluster.pre(capsys)
    assert code == 0 and verdicts(document) == ALL_PASS_PRE


def test_wait_zero_claims_no_write(cluster: Cluster, capsys: Any) -> None:
    cluster.pre(capsys)  # reports of the release, a moment ago
    before = cluster.server.get_object("ConfigMap", "mirror-agent-checks", NS)
    patches = sum(1 for r in cluster.server.requests if r.method == "PATCH")
    argv = ["checklist", "pre-upgrade", "--to-image", TARGET, "--wait", "0"]
    code = main([*argv, "--kubeconfig", str(cluster.kubeconfig)])
    out, err = capsys.readouterr()
    assert code == 0
    assert "writing" not in err and "note:" not in err
    assert "changes:      none: this checklist only reads from the cluster" in out
    assert (
        "note:         --wait 0: the release check was not requested; reports of it from the "
        "last --max-age count"
    ) in out
    assert sum(1 for r in cluster.server.requests if r.method == "PATCH") == patches
    assert cluster.server.get_object("ConfigMap", "mirror-agent-checks", NS) == before
    # With a wait, the note says what is written, before it is.
    main(
        ["checklist", "pre-upgrade", "--to-image", TARGET, "--kubeconfig", str(cluster.kubeconfig)]
    )
    assert capsys.readouterr().err == (
        "note: writing data key checklist.txt of configmap mirror-agent/mirror-agent-checks "
        "(the only change this command makes)\n"
    )


def test_a_wrong_digest(cluster: Cluster, capsys: Any) -> None:
    for name in Cluster.NODES:
        cluster.served[name] = "wrong-digest"
    code, document = cluster.pre(capsys)
    assert code == 1
    first = items(document)["release-resolves-through-mirror"]
    assert first["summary"] == (
        "3 of 3 expected nodes did not resolve the release through a mirror (3 failed); most "
        "likely a wrong digest"
    )
    assert first["evidence"][0] == (
        "most likely a wrong digest: every source, the source registry quay.io included, "
        f"answered manifest unknown for {DIGEST} (3 node(s)): find the right one with oc adm "
        "release info"
    )
    assert first["remediation"][0] == (
        "oc adm release info -o 'jsonpath={.digest}{\"\\n\"}' "
        f'"{RELEASE}:${{OCP_RELEASE}}-${{ARCHITECTURE}}"   # the digest of that release (or of '
        f"the tag you mirrored it to); re-run with --to-image {RELEASE}@<that digest>"
    )
    # Mirroring a digest that does not exist cannot help: no oc adm release mirror.
    assert not any("oc adm release mirror" in c for c in every_command(document))
    assert items(document)["upgrade-command"]["remediation"] == []


ICSP_BESIDE_IDMS = "both imagecontentsourcepolicy and imagedigestmirrorset exist"


@pytest.mark.parametrize(
    ("version", "args", "verdict"),
    [
        ("4.13.4", (), "fail"),
        ("4.13.27", (), "pass"),
        ("4.13.4", ("--ocp-version", "4.13"), "warn"),
    ],
)
def test_icsp_beside_idms_on_an_early_4_13(
    cluster: Cluster, capsys: Any, version: str, args: tuple[str, ...], verdict: str
) -> None:
    # An IDMS added for the payload beside the ICSP of the release: the MCO of 4.13.0 to
    # 4.13.26 refuses the pair, so the nodes keep the file they had (the release rule only).
    cluster.server.put(cluster_version(version=version))
    cluster.server.put(idms("payload", (PAYLOAD, [MIRROR])))
    cluster.server.put(
        {
            "apiVersion": "operator.openshift.io/v1alpha1",
            "kind": "ImageContentSourcePolicy",
            "metadata": {"name": "old"},
            "spec": {"repositoryDigestMirrors": [{"source": RELEASE, "mirrors": [MIRROR]}]},
        }
    )
    held = (
        mco_file((RELEASE, [MIRROR]))
        if verdict == "fail"
        else mco_file((PAYLOAD, [MIRROR]), (RELEASE, [MIRROR]))
    )
    for name in Cluster.NODES:
        cluster.confs[name] = held
    code, document = cluster.pre(capsys, *args)
    rules = items(document)["mirror-rules"]
    assert rules["verdict"] == verdict, rules["evidence"]
    evidence = "\n".join(rules["evidence"])
    if verdict == "fail":
        assert code == 1
        assert f"MCO refusal: ImageContentSourcePolicy/old kind: {ICSP_BESIDE_IDMS} (" in evidence
        assert "disagree" not in rules["summary"]  # held to their current file
        assert all(n["verdict"] == "pass" for n in rules["details"]["nodes"])
        assert rules["remediation"][0].startswith(
            "oc get imagecontentsourcepolicy/old -o yaml   # save it to a file, convert it "
            "with oc adm migrate icsp"
        )
        assert rules["remediation"][1].endswith(f"| grep -F '{ICSP_BESIDE_IDMS}'")
    elif verdict == "warn":
        assert (
            "possibly refused by the MCO (its z-stream unknown: pass --ocp-version 4.y.z): "
            f"ImageContentSourcePolicy/old kind: {ICSP_BESIDE_IDMS}"
        ) in evidence
    else:
        assert code == 0 and ICSP_BESIDE_IDMS not in evidence
