"""The release a checklist is about: ``--to-image``, its source and payload repository (pure)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal, Optional

from agent import reference
from agent.errors import UsageError
from agent.reference import ReferenceError
from agent.registries.model import Configuration
from agent.registries.resolve import source_of

# The repository holding a release's component images, for the well-known release repos;
# anything else needs --payload-repository.
PAYLOAD_REPOSITORIES = {
    "quay.io/openshift-release-dev/ocp-release": "quay.io/openshift-release-dev/ocp-v4.0-art-dev",
    "quay.io/openshift/okd": "quay.io/openshift/okd-content",
}
DIGEST_HINT = (
    "find the digest with: oc adm release info -o 'jsonpath={.digest}{\"\\n\"}' "
    "quay.io/openshift-release-dev/ocp-release:<version>-<arch>"
)


# Where the payload repository came from: the option, the known default, or nowhere.
PayloadFrom = Literal["default", "--payload-repository", "unknown"]


@dataclass(frozen=True)
class Target:
    given: str  # as given on the command line
    reference: str  # normalised, by digest (what the agents check)
    repository: str  # the given reference's repository
    digest: str  # sha256:..., or another algorithm the reference grammar accepts
    source_repository: str  # the repository the mirror rules must cover
    payload_repository: Optional[str]
    payload_from: PayloadFrom

    @property
    def source_reference(self) -> str:
        return f"{self.source_repository}@{self.digest}"

    def to_json(self) -> dict[str, Any]:
        return {
            "image": self.given,
            "reference": self.reference,
            "digest": self.digest,
            "sourceRepository": self.source_repository,
            "payloadRepository": self.payload_repository,
            "payloadRepositoryFrom": self.payload_from,
        }


def parse_target(given: str, payload_repository: Optional[str] = None) -> Target:
    """Raises UsageError (exit 2) unless ``given`` is a fully qualified reference by digest."""
    try:
        if reference.is_short_name(given):
            raise UsageError(
                f"--to-image {given}: use a fully qualified reference "
                "(registry/repository@sha256:...)"
            )
        parsed = reference.parse_normalized(given)
    except ReferenceError as exc:
        raise UsageError(f"--to-image: {exc.message}", hint=DIGEST_HINT) from None
    if parsed.digest is None:  # parse_normalized accepts only digests c/image accepts
        raise UsageError(
            f"--to-image {given}: a release is updated to by digest (REF@sha256:...)",
            hint=DIGEST_HINT,
        )
    payload: Optional[str] = None
    origin: PayloadFrom = "unknown"
    if payload_repository:
        try:
            payload = reference.parse_normalized(payload_repository).name
        except ReferenceError as exc:
            raise UsageError(f"--payload-repository: {exc.message}") from None
        origin = "--payload-repository"
    elif parsed.name in PAYLOAD_REPOSITORIES:
        payload, origin = PAYLOAD_REPOSITORIES[parsed.name], "default"
    return Target(
        given=given,
        reference=str(parsed.for_pull()),
        repository=parsed.name,
        digest=parsed.digest,
        source_repository=parsed.name,
        payload_repository=payload,
        payload_from=origin,
    )


def with_source(target: Target, config: Configuration) -> Target:
    """When ``--to-image`` names a mirror, the source it stands for (and its payload repo)."""
    source = source_of(config, target.repository)
    if source == target.source_repository:
        return target
    payload, origin = target.payload_repository, target.payload_from
    if origin != "--payload-repository":
        payload = PAYLOAD_REPOSITORIES.get(source)
        origin = "default" if payload else "unknown"
    return replace(
        target, source_repository=source, payload_repository=payload, payload_from=origin
    )


def matches(
    target: Target, image: str, image_reference: Optional[str], *, as_given: bool = True
) -> bool:
    """Whether an image is this release: its digest, from its source's repository or (with
    ``as_given``) from the repository as given, such as a mirror reference.

    A node's check of a mirror reference pulls that mirror directly, never through the
    node's mirror rules, so it says nothing about them: a report's release check is
    matched with ``as_given=False``."""
    repositories = {target.source_repository}
    if as_given:
        repositories.add(target.repository)
    for text in (image_reference, image):
        if not text:
            continue
        try:
            parsed = reference.parse_normalized(text)
        except ReferenceError:
            continue
        if parsed.digest == target.digest and parsed.name in repositories:
            return True
    return False
