"""The OpenShift version whose MCO renders the nodes' registries.conf
(agent/checklist/version.py)."""

from __future__ import annotations

import pytest

from agent.checklist.version import cluster_version_of
from tests.unit.checklist.factories import cluster_version, forbidden


def test_the_version_that_renders_the_nodes_now() -> None:
    history = [
        {"state": "Partial", "version": "4.15.3", "image": "x"},
        {"state": "Completed", "version": "4.14.8", "image": "y"},
    ]
    cv = cluster_version(version="4.15.3", history=history)
    assert cluster_version_of(cv, None, post=False).version == (4, 14)  # before the update
    assert cluster_version_of(cv, None, post=True).version == (4, 15)
    assert cluster_version_of(cv, "4.12", post=False).source == "--ocp-version"
    assert cluster_version_of(forbidden("get", "x"), None, post=False).source == "unknown"
    with pytest.raises(ValueError):
        cluster_version_of(cv, "soon", post=False)
