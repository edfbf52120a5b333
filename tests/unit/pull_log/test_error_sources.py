"""agent.pull.log.error_sources: the ``(ref, err)`` pairs a containers/image error names."""

from __future__ import annotations

import pytest

from agent.pull.log.error_sources import parse_error_sources

IPV6 = "[fd00::5]:5000/mirror/app@sha256:" + "b" * 64
IPV6_ERROR = (
    'pinging container registry [fd00::5]:5000: Get "https://[fd00::5]:5000/v2/": '
    "dial tcp [fd00::5]:5000: connect: connection refused"
)
EOF_ERROR = 'pinging container registry internal.example.com: Get "https://x/v2/": EOF'


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("", ()),
        ("Error determining repository tags: pinging container registry h:5108: x", ()),
        (
            "initializing source docker://h.io/a/b:v1: registry h.io/a/b is blocked in /etc/c",
            (("h.io/a/b:v1", "registry h.io/a/b is blocked in /etc/c"),),
        ),
        (  # one source: the logical reference is all the text says
            f"initializing source docker://quay.io/team/app:v1: {EOF_ERROR}",
            (("quay.io/team/app:v1", EOF_ERROR),),
        ),
        (
            'Error parsing image name "docker://h.io/a/b:v1": manifest unknown',
            (("h.io/a/b:v1", "manifest unknown"),),
        ),
        (  # kubelet event text around a CRI-O error
            "Failed to pull image: rpc error: code = Unknown desc = (Mirrors also failed: "
            "[m.io/a/b:v1: x]): h.io/a/b:v1: y",
            (("m.io/a/b:v1", "x"), ("h.io/a/b:v1", "y")),
        ),
        (  # robust to brackets and colons inside the errors
            "initializing source docker://q.io/a/app:v1: (Mirrors also failed: "
            f"[{IPV6}: {IPV6_ERROR}]\n"
            "[m.example.com/a/app:v1: reading manifest v1 in m.example.com/a/app: errors:\n"
            "denied: [weird] text: with ]): colons]\n"
            "[n.example.com:443/a/app:v1: manifest unknown]): q.io/a/app:v1: "
            "unauthorized: [x]: y",
            (
                (IPV6, IPV6_ERROR),
                (
                    "m.example.com/a/app:v1",
                    "reading manifest v1 in m.example.com/a/app: errors:\n"
                    "denied: [weird] text: with ]): colons",
                ),
                ("n.example.com:443/a/app:v1", "manifest unknown"),
                ("q.io/a/app:v1", "unauthorized: [x]: y"),
            ),
        ),
        ("(Mirrors also failed: [m.io/a/b:v1: x]", ()),  # truncated
        ("(Mirrors also failed: no bracket", ()),
        ("(Mirrors also failed: [no ref here]): h.io/a/b:v1: y", ()),
    ],
)
def test_error_sources(error: str, expected: tuple[tuple[str, str], ...]) -> None:
    assert parse_error_sources(error) == expected
