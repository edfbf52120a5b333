"""Pulling on the node: running podman/skopeo, parsing their debug logs, judging the result."""
