"""The hint printed when no kubeconfig can be used: the `oc get` it suggests must list the
reports where the shipped DaemonSet's agents publish them."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from agent.kube.config import DEFAULT_NAMESPACE, KubeConfigError, from_kubeconfig
from agent.kube.contract import REPORT_LABELS, reports_namespace


def test_the_from_file_hint_lists_the_reports_where_they_are_published(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError) as caught:
        from_kubeconfig(str(tmp_path / "absent"), env={})
    hint = str(caught.value.hint)
    command, pipe = hint.split("fetch the reports yourself: ", 1)[1].split(" | ", 1)
    words = shlex.split(command)
    assert words[:3] == ["oc", "get", "configmaps"]
    # agent run publishes into <its namespace>-reports; the manifests install it in mirror-agent
    assert words[words.index("-n") + 1] == reports_namespace(DEFAULT_NAMESPACE)
    selector = dict(term.split("=", 1) for term in words[words.index("-l") + 1].split(","))
    assert selector.items() <= REPORT_LABELS.items()
    assert pipe == "agent collect --from-file -"
