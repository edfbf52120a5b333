"""A node's registries.conf read back as the mirror objects it stands for."""

from __future__ import annotations

from agent.checklist.compare import compare
from agent.checklist.mirror_sets import NEVER_CONTACT_SOURCE
from agent.plan import render
from agent.plan.node_file import NODE_OBJECT, node_objects
from agent.registries.decode import decode_file
from agent.registries.merge import merge
from agent.registries.model import CURRENT, Configuration

NODE = """
[[registry]]
location = "quay.io/release"
blocked = true
[[registry.mirror]]
location = "mirror.example/release"
insecure = true
pull-from-mirror = "digest-only"

[[registry]]
location = "quay.io/tags"
[[registry.mirror]]
location = "mirror.example/tags"
insecure = true
pull-from-mirror = "tag-only"

[[registry]]
location = "mirror.example"
insecure = true

[[registry]]
location = "docker.io/blocked"
blocked = true
"""


def config(text: str) -> Configuration:
    return merge([decode_file(text, "registries.conf", drop_in=False, compat=CURRENT)])


def test_a_414_file_reads_back_as_idms_itms_and_image_config() -> None:
    node = node_objects(config(NODE), (4, 14))
    (idms,) = node.state.idmss
    (itms,) = node.state.itmss
    assert idms["metadata"]["name"] == NODE_OBJECT
    assert idms["spec"]["imageDigestMirrors"] == [
        {
            "source": "quay.io/release",
            "mirrors": ["mirror.example/release"],
            "mirrorSourcePolicy": NEVER_CONTACT_SOURCE,
        }
    ]
    assert itms["spec"]["imageTagMirrors"] == [
        {"source": "quay.io/tags", "mirrors": ["mirror.example/tags"]}
    ]
    assert node.state.image_config is not None
    assert node.state.image_config["spec"]["registrySources"] == {
        "insecureRegistries": ["mirror.example"],
        "blockedRegistries": ["docker.io/blocked"],
    }
    # rendering the objects again gives the node's file back
    rendering = render(node.state, (4, 14), None)
    assert compare(rendering, config(NODE).canonical()["registries"]) == []
    assert node.notes == ()


def test_a_412_file_reads_back_as_icsp() -> None:
    text = (
        '[[registry]]\nlocation = "quay.io/a"\nmirror-by-digest-only = true\n'
        '[[registry.mirror]]\nlocation = "mirror.example/a"\n'
    )
    node = node_objects(config(text), (4, 12))
    (icsp,) = node.state.icsps
    assert icsp["spec"]["repositoryDigestMirrors"] == [
        {"source": "quay.io/a", "mirrors": ["mirror.example/a"]}
    ]
    assert node.state.idmss == () and node.state.itmss == ()
    assert compare(render(node.state, (4, 12), None), config(text).canonical()["registries"]) == []


def test_what_no_mirror_set_can_express_is_noted() -> None:
    text = (
        '[[registry]]\nprefix = "quay.io/a"\nlocation = "elsewhere.example/a"\n\n'
        '[[registry]]\nlocation = "quay.io/b"\n[[registry.mirror]]\nlocation = "m.example/b"\n'
    )
    node = node_objects(config(text), (4, 14))
    assert node.notes[0].startswith("quay.io/a: the node's entry sends it to location")
    assert "no pull-from-mirror" in node.notes[1]
    # a mirror for both kinds of reference: one digest set and one tag set
    assert [o["spec"]["imageDigestMirrors"][0]["source"] for o in node.state.idmss] == ["quay.io/b"]
    assert [o["spec"]["imageTagMirrors"][0]["source"] for o in node.state.itmss] == ["quay.io/b"]
