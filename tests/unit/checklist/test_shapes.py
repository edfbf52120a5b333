"""Objects from files reduced to their well-typed parts before rendering."""

from __future__ import annotations

from agent.checklist.mirrors import IDMS, mirror_sets, render_registries
from agent.checklist.shapes import shaped_image_config, shaped_mirror_object


def test_wrong_typed_parts_are_dropped_and_positions_kept() -> None:
    obj = {
        "kind": IDMS,
        "metadata": {"name": ["m"]},
        "spec": {
            "imageDigestMirrors": [
                "quay.io/a",
                {"source": "quay.io/b", "mirrors": ["m.x/b", 3], "mirrorSourcePolicy": [1]},
            ]
        },
    }
    shaped = shaped_mirror_object(obj, "imageDigestMirrors")
    assert shaped["metadata"] == {}
    assert shaped["spec"]["imageDigestMirrors"] == [
        {},
        {"source": "quay.io/b", "mirrors": ["m.x/b"]},
    ]
    (only,) = mirror_sets(IDMS, [obj])
    assert (only.source, only.mirrors, only.index) == ("quay.io/b", ("m.x/b",), 1)


def test_a_spec_that_is_not_an_object_renders_nothing() -> None:
    rendering = render_registries([], [{"kind": IDMS, "spec": [[]]}], [], version=(4, 16))
    assert rendering.config.canonical()["registries"] == []


def test_image_config_lists_keep_strings_only() -> None:
    config = {
        "spec": {
            "registrySources": {"blockedRegistries": "quay.io", "insecureRegistries": ["a", 1]}
        }
    }
    shaped = shaped_image_config(config)
    assert shaped is not None
    assert shaped["spec"]["registrySources"] == {
        "blockedRegistries": [],
        "insecureRegistries": ["a"],
    }
    assert shaped_image_config(None) is None
