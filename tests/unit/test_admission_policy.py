"""The optional ValidatingAdmissionPolicy (daemonset/policy/): its CEL expressions evaluated
with cel-python on the requests an API server would send it, with the report ConfigMaps
the agent's own code builds.

The evaluation follows the API server's: the binding's namespaceSelector first (a request in
a namespace it does not select is not checked), then matchConditions (all true, or the policy
does not apply), then the variables in order, then every validation; a validation that
is false, or that fails to evaluate (failurePolicy Fail), denies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import celpy
import pytest
import yaml
from celpy import celtypes

from agent.kube.contract import (
    CHECKS_CONFIGMAP,
    NODE_ANNOTATION,
    REPORT_NAME_PREFIX,
    reports_namespace,
)
from agent.kube.publish import report_configmap
from agent.report import CheckReport

POLICY_DIR = Path(__file__).resolve().parents[2] / "daemonset" / "policy"
AGENT = "system:serviceaccount:mirror-agent:mirror-agent"
NODE_NAME_KEY = "authentication.kubernetes.io/node-name"
NS = "mirror-agent"
REPORTS_NS = reports_namespace(NS)


def _documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((POLICY_DIR / "own-report.yaml").read_text()) if d]


def _policy() -> dict[str, Any]:
    (policy,) = [d for d in _documents() if d["kind"] == "ValidatingAdmissionPolicy"]
    return policy


def _binding() -> dict[str, Any]:
    (binding,) = [d for d in _documents() if d["kind"] == "ValidatingAdmissionPolicyBinding"]
    return binding


def binds(namespace: str) -> bool:
    """Whether the binding's namespaceSelector selects ``namespace`` (a label selector over
    the Namespace's labels, of which the API server sets kubernetes.io/metadata.name)."""
    selector = _binding()["spec"]["matchResources"]["namespaceSelector"]
    labels = {"kubernetes.io/metadata.name": namespace}
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        matched = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not matched:
            return False
    return bool(selector)  # an empty selector selects every namespace; none is shipped


_ENV = celpy.Environment()


# The two functions of the strings extension (cel-go's ext.Strings, which the API server
# enables for admission policies) that the policy uses and cel-python lacks.
def _replace(text: Any, old: Any, new: Any) -> celtypes.StringType:
    return celtypes.StringType(str(text).replace(str(old), str(new)))


def _substring(text: Any, start: Any, end: Any = None) -> celtypes.StringType:
    begin, stop = int(start), len(str(text)) if end is None else int(end)
    if not 0 <= begin <= stop <= len(str(text)):  # cel-go: an error, not a shorter string
        raise ValueError(f"substring({begin}, {stop}) out of range")
    return celtypes.StringType(str(text)[begin:stop])


_STRINGS_EXTENSION = {"replace": _replace, "substring": _substring}


def _evaluate(expression: str, activation: dict[str, Any]) -> Any:
    program = _ENV.program(_ENV.compile(expression), functions=_STRINGS_EXTENSION)
    return program.evaluate(activation)


def admit(
    *,
    operation: str,
    obj: Optional[dict[str, Any]],
    user: str = AGENT,
    node: Optional[str] = "worker-0",
    old: Optional[dict[str, Any]] = None,
    namespace: str = REPORTS_NS,
) -> tuple[str, list[str]]:
    """("not-bound" | "not-applicable" | "allowed" | "denied", the denial messages)."""
    if not binds(namespace):
        return "not-bound", []
    spec = _policy()["spec"]
    extra = {NODE_NAME_KEY: [node]} if node is not None else {}
    request = {
        "operation": operation,
        "namespace": namespace,
        "userInfo": {"username": user, "extra": extra},
    }
    activation: dict[str, Any] = {
        "request": celpy.json_to_cel(request),
        "object": celpy.json_to_cel(obj),
        "oldObject": celpy.json_to_cel(old),
    }
    for condition in spec.get("matchConditions", []):
        if not bool(_evaluate(condition["expression"], activation)):
            return "not-applicable", []
    variables = celtypes.MapType()  # each variable keeps its CEL type (a string, a bool)
    for variable in spec.get("variables", []):
        activation["variables"] = variables
        value = _evaluate(variable["expression"], activation)
        variables[celtypes.StringType(variable["name"])] = value
    activation["variables"] = variables
    denials = []
    for validation in spec["validations"]:
        try:
            passed = _evaluate(validation["expression"], activation)
        except celpy.CELEvalError as error:
            denials.append(f"evaluation failed: {error}")
            continue
        if isinstance(passed, celpy.CELEvalError) or not bool(passed):
            if "messageExpression" in validation:
                denials.append(str(_evaluate(validation["messageExpression"], activation)))
            else:
                denials.append(validation["message"])
    return ("denied" if denials else "allowed"), denials


def report_of(node: str) -> dict[str, Any]:
    """The ConfigMap ``agent run`` applies for ``node`` (built by the agent's code)."""
    report = CheckReport(node=node, checked_at="2026-11-25T10:00:00Z", verdict="pass")
    return report_configmap(report, namespace=REPORTS_NS, node=None)


@pytest.mark.parametrize("operation", ["CREATE", "UPDATE"])
def test_a_node_writes_its_own_report(operation: str) -> None:
    own = report_of("worker-0")
    assert admit(operation=operation, obj=own, old=own if operation == "UPDATE" else None) == (
        "allowed",
        [],
    )


def test_a_node_cannot_write_another_nodes_report() -> None:
    verdict, messages = admit(operation="UPDATE", obj=report_of("worker-1"))
    assert verdict == "denied"
    assert any("may only write the ConfigMap mirror-agent-report-worker-0" in m for m in messages)


def test_a_node_cannot_rewrite_the_checks_configmap() -> None:
    checks = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CHECKS_CONFIGMAP, "namespace": NS},
        "data": {"images.txt": "evil.example.com:6379/x@sha256:" + "1" * 64},
    }
    for namespace in (NS, REPORTS_NS):
        assert admit(operation="UPDATE", obj=checks, old=checks, namespace=namespace)[0] == "denied"
        assert admit(operation="CREATE", obj=checks, namespace=namespace)[0] == "denied"


@pytest.mark.parametrize("operation", ["CREATE", "UPDATE"])
def test_in_mirror_agent_the_agent_writes_nothing_not_even_its_own_report(operation: str) -> None:
    """Where an earlier release's Role in mirror-agent still grants the agent create and
    patch (docs/deploying.md, Upgrade), the policy refuses every write there: the agent
    publishes only in the reports namespace."""
    own = report_of("worker-0")
    own["metadata"]["namespace"] = NS
    verdict, messages = admit(
        operation=operation, obj=own, old=own if operation == "UPDATE" else None, namespace=NS
    )
    assert verdict == "denied"
    assert f"the agent writes ConfigMaps only in {REPORTS_NS}, not in {NS}" in messages


def test_a_forged_node_annotation_is_refused() -> None:
    forged = report_of("worker-0")
    forged["metadata"]["annotations"][NODE_ANNOTATION] = "worker-1"
    verdict, messages = admit(operation="CREATE", obj=forged)
    assert verdict == "denied" and any("must carry the annotation" in m for m in messages)
    bare = report_of("worker-0")
    del bare["metadata"]["annotations"]
    assert admit(operation="CREATE", obj=bare)[0] == "denied"


def test_a_token_not_bound_to_a_node_writes_nothing() -> None:
    verdict, messages = admit(operation="CREATE", obj=report_of("worker-0"), node=None)
    assert verdict == "denied" and any("not bound to a node" in m for m in messages)


def test_the_agent_deletes_nothing() -> None:
    verdict, messages = admit(operation="DELETE", obj=None, old=report_of("worker-0"))
    assert verdict == "denied" and messages == ["the agent never deletes a ConfigMap"]


def test_other_users_are_not_concerned() -> None:
    checks = {"metadata": {"name": CHECKS_CONFIGMAP}}
    assert admit(operation="UPDATE", obj=checks, user="kube:admin")[0] == "not-applicable"
    other_sa = "system:serviceaccount:other:mirror-agent"
    assert admit(operation="UPDATE", obj=checks, user=other_sa)[0] == "not-applicable"


LONG_NAMES = [
    "n" * 240,
    ("a" * 58 + ".b" + "c" * 200),  # a '.' at the cut: the name's '-' there is dropped
    ("a" * 59 + "--" + "c" * 200),  # '-' runs at the cut
    ".".join(["ip-10-0-1-2"] * 22),
]


@pytest.mark.parametrize("node", LONG_NAMES)
def test_a_node_name_too_long_for_the_plain_name_uses_the_hashed_one(node: str) -> None:
    own = report_of(node)  # prefix + name > 253: the agent hashes the ConfigMap name
    assert own["metadata"]["name"] != REPORT_NAME_PREFIX + node
    assert admit(operation="CREATE", obj=own, node=node) == ("allowed", [])
    assert admit(operation="UPDATE", obj=own, old=own, node=node) == ("allowed", [])
    assert admit(operation="CREATE", obj=report_of("worker-1"), node=node)[0] == "denied"


def test_a_long_named_node_cannot_write_any_report_name() -> None:
    """The hashed name's readable part is checked: only the digest is not."""
    node = "n" * 240
    for name in ("mirror-agent-report-anything", "mirror-agent-report-worker-1",
                 f"mirror-agent-report-{'n' * 59}-{'0' * 12}",
                 f"mirror-agent-report-{'n' * 61}-{'0' * 12}",
                 f"mirror-agent-report-{'n' * 60}-{'0' * 11}"):  # fmt: skip
        forged = report_of(node)
        forged["metadata"]["name"] = name
        verdict, messages = admit(operation="CREATE", obj=forged, node=node)
        assert verdict == "denied", name
        assert any(f"mirror-agent-report-{'n' * 60}-<digest>" in m for m in messages)
    digest_unchecked = report_of(node)
    digest_unchecked["metadata"]["name"] = f"mirror-agent-report-{'n' * 60}-{'0' * 12}"
    assert admit(operation="CREATE", obj=digest_unchecked, node=node)[0] == "allowed"


def test_another_nodes_report_cannot_be_taken_over_by_update() -> None:
    """The reviewer's case: a long-named node rewrites worker-1's report, annotation and
    all; and any node updating a report whose stored annotation is not its own."""
    node = "n" * 240
    victim = report_of("worker-1")
    victim["metadata"]["annotations"][NODE_ANNOTATION] = node
    verdict, messages = admit(operation="UPDATE", obj=victim, old=report_of("worker-1"), node=node)
    assert verdict == "denied"
    assert any("may only update a report that already carries" in m for m in messages)
    renamed = report_of("worker-0")  # own name and annotation, someone else's object
    verdict, messages = admit(operation="UPDATE", obj=renamed, old=report_of("worker-1"))
    assert verdict == "denied"
    assert any("may only update a report that already carries" in m for m in messages)
    bare = report_of("worker-0")
    del bare["metadata"]["annotations"]
    assert admit(operation="UPDATE", obj=report_of("worker-0"), old=bare)[0] == "denied"


def test_a_name_the_policy_cannot_verify_is_refused() -> None:
    """Node names are DNS-1123 subdomains; one that is not cannot be checked: refused."""
    node = "N" * 240
    assert admit(operation="CREATE", obj=report_of(node), node=node)[0] == "denied"


def test_the_binding_selects_the_reports_namespace_and_mirror_agent() -> None:
    """The policy binds where the agent writes (the reports namespace) and where the checks
    ConfigMap lives (mirror-agent), and nowhere else."""
    binding = _binding()
    assert binding["spec"]["policyName"] == _policy()["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert [binds(namespace) for namespace in (REPORTS_NS, NS, "default", "other")] == [
        True,
        True,
        False,
        False,
    ]
    assert _policy()["spec"]["failurePolicy"] == "Fail"
    kustomization = yaml.safe_load((POLICY_DIR / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["own-report.yaml"]
