"""The checks file (``--images-file``, the checks ConfigMap): one image reference per line."""

from __future__ import annotations

from typing import Optional

from agent.errors import AgentError, clipped, quoted
from agent.vocabulary import METHODS, Method


def read_images_file(text: str, name: str) -> list[str]:
    """One reference per line; blank lines and ``#`` comments ignored."""
    return [image for image, _method in read_image_lines(text, name)]


def read_image_lines(text: str, name: str) -> list[tuple[str, Optional[Method]]]:
    """(reference, method) per line: ``REF  # method=manifest`` picks the method for REF.

    The option lives in the comment, so agents that do not know it still read the
    reference (and check it with their default method). Other comment text is ignored.
    """
    images: list[tuple[str, Optional[Method]]] = []
    for number, line in enumerate(text.splitlines(), 1):
        code, _, comment = line.partition("#")
        stripped = code.strip()
        if not stripped:
            continue
        if " " in stripped or "\t" in stripped:
            raise AgentError(
                f"{name}:{number}: one image reference per line, got {quoted(stripped)}"
            )
        method: Optional[Method] = None
        for word in comment.split():
            key, equals, value = word.partition("=")
            if key == "method" and equals:
                method = next((known for known in METHODS if known == value), None)
                if method is None:
                    raise AgentError(
                        f"{name}:{number}: method={clipped(value)}: use method=pull or "
                        "method=manifest"
                    )
        images.append((stripped, method))
    return images
