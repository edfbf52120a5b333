"""Docker image references, parsed the way containers/image parses them.

This is a stdlib-only, I/O-free reimplementation of the reference grammar of
containers/image's vendored ``docker/reference`` package (``reference.go``,
``regexp.go``, ``normalize.go``, ``helpers.go``) and of the short-name test in
``pkg/shortnames``.  The grammar::

    reference        := name [ ":" tag ] [ "@" digest ]
    name             := [ domain "/" ] path-component [ "/" path-component ]*
    domain           := domain-component [ "." domain-component ]* [ ":" port ]
    domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
    port             := [0-9]+
    path-component   := [a-z0-9]+ ( separator [a-z0-9]+ )*
    separator        := "." | "_" | "__" | "-"+
    tag              := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest           := algorithm ":" hex           (see below)

Normalisation (``ParseNormalizedNamed``): the text before the first ``/`` is
the registry host only if it contains ``.`` or ``:`` or is exactly
``localhost`` (an upper-case first component is *not* a host in this copy,
unlike newer docker/distribution); otherwise the host is ``docker.io``.
``index.docker.io`` becomes ``docker.io``, and a single-component Docker Hub
path gets ``library/``.  The 255-character limit applies to the *normalised*
name (host and path, without tag or digest).

Digests are those go-digest v1.0.0 (containers/image's version) accepts: sha256,
sha384 and sha512 with 64, 96 and 128 lower-case hex digits
(:data:`DIGEST_ALGORITHMS`); other well-formed algorithms are "unsupported".

Deliberate differences from upstream, all of them refusals:

* A first component that contains ``.`` but is not a valid host name and is a
  valid path component (e.g. ``foo_bar.com/app``) makes upstream return a
  reference with an *empty* domain (``Domain() == ""``).  Such a reference has
  no registry to pull from, so it is refused here.
* Input that is empty, starts with ``-`` or contains whitespace is refused with
  a specific message (upstream refuses all of them too, less clearly).
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import NoReturn, Optional

from agent.errors import AgentError

__all__ = [
    "DEFAULT_DOMAIN",
    "DEFAULT_TAG",
    "DIGEST_ALGORITHMS",
    "DIGEST_PATTERN",
    "NAME_TOTAL_LENGTH_MAX",
    "GivenImage",
    "ImageReference",
    "ReferenceError",
    "given_image",
    "is_digest",
    "is_short_name",
    "parse_canonical",
    "parse_normalized",
    "split_repository",
]

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_NAME = "library"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255
# go-digest v1.0.0 (containers/image's version): every algorithm it accepts, with the
# number of lower-case hex digits of its encoded part.
DIGEST_ALGORITHMS: dict[str, int] = {"sha256": 64, "sha384": 96, "sha512": 128}
#: A regular expression (no anchors, no groups) for exactly the valid digests.
DIGEST_PATTERN = "|".join(
    f"{algorithm}:[a-f0-9]{{{length}}}" for algorithm, length in DIGEST_ALGORITHMS.items()
)

# --- regular expressions (compiled once) -------------------------------------------------
#
# Upstream writes the separator as `(?:[._]|__|[-]*)`.  Go's RE2 engine runs in linear time
# whatever the pattern, but in Python's backtracking engine an empty-matching separator makes
# `[a-z0-9]+(?:-*[a-z0-9]+)*` exponential on a long non-matching input.  `-+` accepts exactly
# the same language (an empty separator only joins two alphanumeric runs into one).
# Go's `\w` and `[[:xdigit:]]` are ASCII-only, so they are spelled out.

_ALPHANUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|-+)"
_PATH_COMPONENT = rf"{_ALPHANUMERIC}(?:{_SEPARATOR}{_ALPHANUMERIC})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"

# Python's fullmatch() is used everywhere: a trailing "$" would also match before a final "\n".
_REFERENCE_RE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?")
_NAME_SPLIT_RE = re.compile(rf"(?:({_DOMAIN})/)?({_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)")
_DOMAIN_RE = re.compile(_DOMAIN)
_PATH_RE = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_PATH_COMPONENT_RE = re.compile(_PATH_COMPONENT)
_TAG_RE = re.compile(_TAG)
_DIGEST_FORMAT_RE = re.compile(_DIGEST)
_VALID_DIGEST_RE = re.compile(DIGEST_PATTERN)
_HEX_RE = re.compile(r"[0-9a-fA-F]+")
_IDENTIFIER_RE = re.compile(r"[a-f0-9]{64}")
_WHITESPACE_RE = re.compile(r"\s")

_MAX_QUOTED = 300
# Control and invisible/direction-changing characters: never part of a name, and they
# would reach terminals (ESC sequences) through every table that shows the reference.
_CONTROL_RE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]"
)


class ReferenceError(AgentError):
    """An image reference that does not parse; the message quotes the input.

    ``reference`` is the offending input and ``problem`` the bare description.
    Note that the name shadows the builtin ``ReferenceError``: import it explicitly.
    """

    kind = "invalid-reference"

    def __init__(
        self,
        message: str,
        *,
        hint: Optional[str] = None,
        reference: Optional[str] = None,
        problem: Optional[str] = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.reference = reference
        self.problem = problem


def _quote(text: str) -> str:
    if len(text) > _MAX_QUOTED:
        text = text[:_MAX_QUOTED] + "..."
    return json.dumps(text, ensure_ascii=False)


def _fail(text: str, problem: str) -> NoReturn:
    raise ReferenceError(
        f"invalid image reference {_quote(text)}: {problem}", reference=text, problem=problem
    )


# --- the value type ----------------------------------------------------------------------


@dataclass(frozen=True)
class ImageReference:
    """A fully qualified reference: registry host, repository path, optional tag and digest.

    Obtain instances from :func:`parse_normalized` or :func:`parse_canonical`; the constructor
    re-validates its fields and raises :class:`ReferenceError` when they are not valid.
    """

    domain: str
    path: str
    tag: Optional[str] = None
    digest: Optional[str] = None

    def __post_init__(self) -> None:
        problem = _field_problem(self.domain, self.path, self.tag, self.digest)
        if problem is not None:
            _fail(_render(self.domain, self.path, self.tag, self.digest), problem)

    @property
    def name(self) -> str:
        """``domain/path``, without tag or digest (reference.Named.Name())."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        return _render(self.domain, self.path, self.tag, self.digest)

    def familiar(self) -> str:
        """The short form the Docker UI shows (FamiliarString).

        ``docker.io/library/busybox:latest`` -> ``busybox:latest``;
        ``docker.io/ns/app`` -> ``ns/app``; other registries are unchanged.
        """
        path = self.path
        if self.domain == DEFAULT_DOMAIN:
            parts = path.split("/")
            if len(parts) == 2 and parts[0] == OFFICIAL_REPO_NAME:
                path = parts[1]
            return _render_path(path, self.tag, self.digest)
        return str(self)

    def with_default_tag(self) -> ImageReference:
        """Add the tag ``latest`` when there is neither tag nor digest (TagNameOnly)."""
        if self.tag is None and self.digest is None:
            return dataclasses.replace(self, tag=DEFAULT_TAG)
        return self

    def for_pull(self) -> ImageReference:
        """The reference podman actually pulls.

        With a digest the tag is dropped (libimage ignores the tag of a tagged and digested
        reference; containers/image itself refuses to pull one); without either, ``:latest``
        is added.
        """
        if self.digest is not None:
            if self.tag is None:
                return self
            return dataclasses.replace(self, tag=None)
        return self.with_default_tag()


def _render_path(path: str, tag: Optional[str], digest: Optional[str]) -> str:
    text = path
    if tag is not None:
        text += ":" + tag
    if digest is not None:
        text += "@" + digest
    return text


def _render(domain: str, path: str, tag: Optional[str], digest: Optional[str]) -> str:
    return _render_path(f"{domain}/{path}", tag, digest)


def _field_problem(
    domain: str, path: str, tag: Optional[str], digest: Optional[str]
) -> Optional[str]:
    if not _DOMAIN_RE.fullmatch(domain):
        return f"invalid registry host {_quote(domain)}"
    if not _PATH_RE.fullmatch(path):
        return _path_problem(path.split("/")) or f"invalid repository path {_quote(path)}"
    if len(domain) + 1 + len(path) > NAME_TOTAL_LENGTH_MAX:
        return _too_long(len(domain) + 1 + len(path))
    if tag is not None and not _TAG_RE.fullmatch(tag):
        return _tag_problem(tag)
    if digest is not None:
        return _digest_problem(digest)
    return None


# --- diagnostics ---------------------------------------------------------------------------


def _too_long(length: int) -> str:
    return (
        f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters "
        f"(the normalized name without tag or digest has {length})"
    )


def _tag_problem(tag: str) -> str:
    if tag == "":
        return "empty tag after ':'"
    return (
        f"invalid tag {_quote(tag)}: a tag is 1 to 128 ASCII letters, digits, '_', '.' or '-' "
        "and must not start with '.' or '-'"
    )


def _digest_problem(digest: str) -> Optional[str]:
    """None for a valid digest, else what is wrong (go-digest's checks, in its order)."""
    if _VALID_DIGEST_RE.fullmatch(digest):
        return None
    algorithm, sep, encoded = digest.partition(":")
    length = DIGEST_ALGORITHMS.get(algorithm)
    if sep and length is not None:
        if encoded and _HEX_RE.fullmatch(encoded):
            if len(encoded) != length:
                return (
                    f"invalid digest {_quote(digest)}: {algorithm} needs {length} hex digits, "
                    f"got {len(encoded)}"
                )
            return f"invalid digest {_quote(digest)}: hex digits must be lowercase"
    elif _DIGEST_FORMAT_RE.fullmatch(digest):
        return (
            f"unsupported digest algorithm {_quote(algorithm)}: containers/image accepts "
            f"{', '.join(DIGEST_ALGORITHMS)}"
        )
    return (
        f"invalid digest {_quote(digest)}: expected sha256:, sha384: or sha512: followed by "
        "64, 96 or 128 lowercase hex digits"
    )


def _path_problem(components: list[str]) -> Optional[str]:
    for component in components:
        if component == "":
            return "empty path component (leading, trailing or doubled '/')"
        if _PATH_COMPONENT_RE.fullmatch(component):
            continue
        if _PATH_COMPONENT_RE.fullmatch(component.lower()):
            return "repository name must be lowercase"
        if ":" in component:
            return (
                f"invalid path component {_quote(component)}: ':' may only appear in the "
                "registry host (before a port) or before the tag"
            )
        return (
            f"invalid path component {_quote(component)}: path components are lowercase "
            "letters and digits, separated by '.', '_', '__' or dashes"
        )
    return None


def _diagnose(s: str) -> str:
    """Explain why ``s`` does not match the reference grammar (only called on failure)."""
    if s.count("@") > 1:
        return "more than one '@'"
    name_tag, at, digest = s.partition("@")
    tag: Optional[str] = None
    colon, slash = name_tag.rfind(":"), name_tag.rfind("/")
    name = name_tag
    if colon > slash:
        name, tag = name_tag[:colon], name_tag[colon + 1 :]
    if name == "":
        return "missing repository name"
    components = name.split("/")
    if len(components) > 1:
        first = components[0]
        if _DOMAIN_RE.fullmatch(first):
            components = components[1:]
        elif ("." in first or ":" in first) and not _PATH_COMPONENT_RE.fullmatch(first):
            return f"invalid registry host {_quote(first)}"
    problem = _path_problem(components)
    if problem is not None:
        return problem
    if tag is not None and not _TAG_RE.fullmatch(tag):
        return _tag_problem(tag)
    if at:
        if digest == "":
            return "empty digest after '@'"
        problem = _digest_problem(digest)
        if problem is not None:
            return problem
    return "invalid reference format"


def _check_text(text: str) -> None:
    if text == "":
        _fail(text, "must not be empty")
    if text.startswith("-"):
        _fail(text, "must not start with '-'")
    if _WHITESPACE_RE.search(text):
        _fail(text, "must not contain whitespace")
    control = _CONTROL_RE.search(text)
    if control:
        _fail(
            text,
            f"must not contain control characters (found U+{ord(control.group()):04X} at "
            f"position {control.start() + 1})",
        )


# --- parsing -------------------------------------------------------------------------------


def _parse(text: str, s: str) -> tuple[Optional[str], str, Optional[str], Optional[str]]:
    """reference.Parse on ``s``: (domain or None, path, tag, digest).

    ``s`` is ``text`` itself or its normalised spelling; errors quote and diagnose ``text``.
    """
    match = _REFERENCE_RE.fullmatch(s)
    if match is None:
        _fail(text, _diagnose(text))
    name, tag, digest = match.group(1), match.group(2), match.group(3)
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        _fail(text, _too_long(len(name)))
    if digest is not None:
        problem = _digest_problem(digest)
        if problem is not None:
            _fail(text, problem)
    split = _NAME_SPLIT_RE.fullmatch(name)
    assert split is not None  # the name already matched the same grammar
    return split.group(1), split.group(2), tag, digest


def _split_docker_domain(text: str) -> tuple[str, str]:
    """splitDockerDomain: (domain, remainder) with docker.io and library/ filled in."""
    slash = text.find("/")
    first = text[:slash]
    if slash == -1 or ("." not in first and ":" not in first and first != "localhost"):
        domain, remainder = DEFAULT_DOMAIN, text
    else:
        domain, remainder = first, text[slash + 1 :]
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = f"{OFFICIAL_REPO_NAME}/{remainder}"
    return domain, remainder


def parse_normalized(text: str) -> ImageReference:
    """Parse a reference as users write it (ParseNormalizedNamed).

    ``busybox`` -> ``docker.io/library/busybox``; ``ns/app:1`` -> ``docker.io/ns/app:1``;
    ``index.docker.io/x/y`` -> ``docker.io/x/y``; other hosts are kept as written (case too).
    No default tag is added: see :meth:`ImageReference.with_default_tag`.
    """
    _check_text(text)
    if _IDENTIFIER_RE.fullmatch(text):
        _fail(text, "a 64-character hexadecimal string is an image ID, not a repository name")
    domain, remainder = _split_docker_domain(text)
    # Upstream checks the text up to the first ':' (so also a digest algorithm when there is
    # no tag); stopping at '@' as well only changes the message for an upper-case algorithm,
    # which go-digest refuses anyway.
    remote_name = remainder.split("@", 1)[0].split(":", 1)[0]
    if remote_name.lower() != remote_name:
        _fail(text, "repository name must be lowercase")
    parsed_domain, path, tag, digest = _parse(text, f"{domain}/{remainder}")
    if parsed_domain is None:
        _fail(
            text,
            f"{_quote(domain)} is not a valid registry host name "
            "(a host may not contain '_'; containers/image would leave the reference "
            "without a registry)",
        )
    return ImageReference(parsed_domain, path, tag, digest)


def parse_canonical(text: str) -> ImageReference:
    """Parse a reference that must already be fully qualified and canonical (ParseNamed).

    The text must print back unchanged after normalisation: ``docker.io/library/app:1`` is
    accepted, ``app:1``, ``docker.io/app:1``, ``index.docker.io/library/app:1`` and
    ``mirrorhost/cache/app:1`` are not.  containers/image applies this to the references it
    produces by rewriting a registry prefix to a mirror location.
    """
    ref = parse_normalized(text)
    canonical = str(ref)
    if canonical == text:
        return ref
    slash = text.find("/")
    first = text[:slash]
    if slash == -1:
        detail = f"it has no registry host, so it normalizes to {_quote(canonical)}"
    elif "." not in first and ":" not in first and first != "localhost":
        detail = (
            f"{_quote(first)} is not a registry host (a host contains '.' or ':' or is "
            f"'localhost'), so it normalizes to {_quote(canonical)}"
        )
    else:
        detail = f"it normalizes to {_quote(canonical)}"
    _fail(text, f"repository name must be canonical and fully qualified: {detail}")


def is_short_name(text: str) -> bool:
    """Whether ``text`` names no registry and goes through short-name resolution.

    Mirrors containers/image ``pkg/shortnames``: the text is parsed *without*
    normalisation (reference.Parse), and it is a short name unless the host part the
    grammar finds contains ``.`` or ``:`` or is ``localhost``.  So ``fedora``,
    ``library/fedora``, ``fedora@sha256:...`` and even ``foo_bar.com/app`` (not a valid
    host, hence all path) are short names; ``docker.io/fedora``, ``localhost/x`` and
    ``host:5000/x`` are not.  A digest does not make a name qualified.

    Upstream's IsShortName returns False for unparseable input; here invalid input raises
    :class:`ReferenceError`, as shortnames.Resolve does.  A qualified name must also
    normalise (e.g. fit in 255 characters after ``library/`` is added).
    """
    _check_text(text)
    domain = _parse(text, text)[0]
    if domain is not None and ("." in domain or ":" in domain or domain == "localhost"):
        parse_normalized(text)
        return False
    return True


def split_repository(text: str) -> tuple[str, Optional[str], Optional[str]]:
    """Normalise ``text`` and return (name, tag, digest).

    ``"a:1"`` -> ``("docker.io/library/a", "1", None)``.
    """
    ref = parse_normalized(text)
    return ref.name, ref.tag, ref.digest


def is_digest(text: str) -> bool:
    """Whether ``text`` is a digest containers/image accepts (``sha256:<64 hex>``, ...)."""
    return _VALID_DIGEST_RE.fullmatch(text) is not None


def is_domain(text: str) -> bool:
    """Whether ``text`` is a registry host[:port] (``anchoredDomainRegexp``), without a path."""
    return _DOMAIN_RE.fullmatch(text) is not None


# --- an image as a user gave it ----------------------------------------------------------


@dataclass(frozen=True)
class GivenImage:
    """An image as it entered the agent (an option, a checks file line, --auto), parsed once.

    Exactly one of three: ``reference``, the parsed (normalised) reference; ``problem``,
    why ``text`` is not a reference (a check reports it as that image's error); or neither,
    for a short name, which only registries.conf's aliases and search registries expand.
    """

    text: str  # as given
    reference: Optional[ImageReference] = None
    problem: Optional[str] = None

    @property
    def short_name(self) -> bool:
        return self.reference is None and self.problem is None


def given_image(text: str) -> GivenImage:
    """``text`` parsed as a user's image reference (never raises)."""
    try:
        if is_short_name(text):
            return GivenImage(text)
        return GivenImage(text, parse_normalized(text))
    except ReferenceError as exc:
        return GivenImage(text, problem=exc.message)
