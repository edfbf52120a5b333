"""The API client of the workstation commands (collect, checklist): the administrator's
kubeconfig and context, with ``--as``/``--as-group``/``--as-uid`` as oc and kubectl
have them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

from agent.errors import UsageError
from agent.kube.client import KubeClient
from agent.kube.config import ImpersonationFlags, from_kubeconfig
from agent.kube.headers import header_problem


def workstation_client(
    kubeconfig: Optional[str],
    context: Optional[str],
    as_user: Optional[str] = None,
    as_groups: Optional[Sequence[str]] = None,
    as_uid: Optional[str] = None,
) -> KubeClient:
    """A client for the kubeconfig's context; the flags replace its impersonation."""
    flag_values = [("--as", as_user), ("--as-uid", as_uid)]
    flag_values += [("--as-group", group) for group in as_groups or ()]
    for flag, value in flag_values:
        problem = header_problem(value) if value else None
        if problem is not None:  # the value is not quoted: it would only garble the message
            raise UsageError(
                f"{flag}: the value cannot be sent in an HTTP header: it contains {problem}"
            )
    flags = ImpersonationFlags(user=as_user, groups=tuple(as_groups or ()), uid=as_uid)
    return KubeClient(from_kubeconfig(kubeconfig, context, impersonate=flags))
