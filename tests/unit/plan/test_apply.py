"""Files read as ``oc apply -f`` reads them, and applied to the current objects."""

from __future__ import annotations

import pytest

from agent.checklist.mirror_sets import ICSP, IDMS, ITMS
from agent.errors import UsageError
from agent.plan.apply import FileObject, apply_objects, parse_documents
from agent.plan.model import MirrorState
from tests.support.data import DATA, require
from tests.unit.plan.helpers import M1, M2, SOURCE, image_config, mirror_set, state

OC_MIRROR = DATA / "oc-mirror"


def test_oc_mirror_files_are_read_document_by_document() -> None:
    path = require(OC_MIRROR / "idms-oc-mirror.yaml")
    objects = parse_documents(path.read_text(), str(path))
    assert [o.label for o in objects] == [
        "ImageDigestMirrorSet/idms-release-0",
        "ImageDigestMirrorSet/idms-operator-0",
    ]
    assert [o.origin for o in objects] == [f"{path} (document 1)", f"{path} (document 2)"]
    tags = parse_documents(require(OC_MIRROR / "itms-oc-mirror.yaml").read_text(), "itms")
    assert [o.label for o in tags] == ["ImageTagMirrorSet/itms-generic-0"]


def test_a_list_is_read_item_by_item() -> None:
    text = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: config.openshift.io/v1, kind: ImageDigestMirrorSet, metadata: {name: a}}\n"
        "- {apiVersion: config.openshift.io/v1, kind: ImageTagMirrorSet, metadata: {name: b}}\n"
    )
    objects = parse_documents(text, "list.yaml")
    assert [(o.label, o.origin) for o in objects] == [
        ("ImageDigestMirrorSet/a", "list.yaml (document 1) items[0]"),
        ("ImageTagMirrorSet/b", "list.yaml (document 1) items[1]"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: ImageDigestMirrorSet\nspec: [\n", "f.yaml:3: not YAML"),
        ("- a\n- b\n", "f.yaml (document 1): expected an object"),
        ("---\n", "f.yaml: no object in the file"),
    ],
)
def test_bad_files_name_the_file_and_line(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_documents(text, "f.yaml")
    assert caught.value.message.startswith(message)


def _files(*objects: dict[str, object]) -> list[FileObject]:
    return [FileObject(dict(obj), f"f.yaml (document {n})") for n, obj in enumerate(objects, 1)]


def test_create_configure_unchanged_and_delete() -> None:
    current = state(
        mirror_set(IDMS, "same", (SOURCE, [M1])),
        mirror_set(IDMS, "changed", (SOURCE, [M1])),
        mirror_set(ITMS, "gone", (SOURCE, [M1])),
    )
    applied = apply_objects(
        current,
        _files(
            mirror_set(IDMS, "same", (SOURCE, [M1])),
            {**mirror_set(IDMS, "changed", (SOURCE, [M2])), "status": {}},
            mirror_set(ICSP, "new", (SOURCE, [M2])),
        ),
        ["gone"],
    )
    assert [(a.label, a.action) for a in applied.actions] == [
        ("ImageDigestMirrorSet/same", "unchanged"),
        ("ImageDigestMirrorSet/changed", "configured"),
        ("ImageContentSourcePolicy/new", "created"),
        ("ImageTagMirrorSet/gone", "deleted"),
    ]
    assert applied.touched == {
        "ImageDigestMirrorSet/changed",
        "ImageContentSourcePolicy/new",
        "ImageTagMirrorSet/gone",
    }
    proposed = applied.state
    assert [o["metadata"]["name"] for o in proposed.idmss] == ["changed", "same"]
    changed = next(o for o in proposed.idmss if o["metadata"]["name"] == "changed")
    assert changed["spec"]["imageDigestMirrors"][0]["mirrors"] == [M2]
    assert "status" not in changed
    assert proposed.itmss == ()
    assert [o["metadata"]["name"] for o in proposed.icsps] == ["new"]


def test_other_kinds_are_ignored_and_image_config_is_applied() -> None:
    catalog = {"apiVersion": "operators.coreos.com/v1alpha1", "kind": "CatalogSource"}
    catalog["metadata"] = {"name": "cs-redhat-operator-index-v4-18"}
    applied = apply_objects(
        MirrorState(flags_known=False), _files(catalog, image_config(blockedRegistries=["x.io"]))
    )
    assert applied.notes == (
        "CatalogSource/cs-redhat-operator-index-v4-18 (f.yaml (document 1)): not a mirror set, "
        "ignored by the plan",
    )
    assert applied.state.image_config is not None
    assert applied.state.flags_known  # the file says what image.config will be


def test_objects_without_kind_or_name_are_problems() -> None:
    applied = apply_objects(
        MirrorState(), _files({"metadata": {"name": "x"}}, {"kind": IDMS, "metadata": {}})
    )
    assert [(p.object, p.field, p.rule) for p in applied.problems] == [
        ("f.yaml (document 1)", "kind", "kind-required"),
        ("ImageDigestMirrorSet/?", "metadata.name", "name-required"),
    ]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nothing", "no ICSP, IDMS or ITMS is named 'nothing'"),
        ("both", "several kinds have this name (ImageDigestMirrorSet, ImageTagMirrorSet)"),
        ("pod/both", "unknown kind 'pod'"),
        ("idms/nothing", "there is no ImageDigestMirrorSet named 'nothing'"),
    ],
)
def test_bad_deletes_are_usage_errors(target: str, message: str) -> None:
    current = state(
        mirror_set(IDMS, "both", (SOURCE, [M1])), mirror_set(ITMS, "both", (SOURCE, [M1]))
    )
    with pytest.raises(UsageError) as caught:
        apply_objects(current, [], [target])
    assert message in caught.value.message


def test_kind_slash_name_deletes_one_of_two() -> None:
    current = state(
        mirror_set(IDMS, "both", (SOURCE, [M1])), mirror_set(ITMS, "both", (SOURCE, [M1]))
    )
    applied = apply_objects(current, [], ["itms/both"])
    assert applied.state.itmss == () and len(applied.state.idmss) == 1


def test_a_partial_image_config_is_merged_as_oc_apply_merges_it() -> None:
    live = image_config(blockedRegistries=["bad.example"], insecureRegistries=["lab.example"])
    live["spec"]["additionalTrustedCA"] = {"name": "ca"}
    live["spec"]["allowedRegistriesForImport"] = [{"domainName": "old.example"}]
    live["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": (
            '{"spec": {"allowedRegistriesForImport": [{"domainName": "old.example"}],'
            ' "registrySources": {"blockedRegistries": ["bad.example"]}}}'
        )
    }
    partial = image_config(insecureRegistries=["new.example"])
    applied = apply_objects(state(config=live), _files(partial))
    spec = applied.state.image_config["spec"]  # type: ignore[index]
    assert spec == {
        "additionalTrustedCA": {"name": "ca"},  # in neither the file nor last-applied: stays
        "registrySources": {"insecureRegistries": ["new.example"]},  # blocked: last-applied
    }
    assert [a.action for a in applied.actions] == ["configured"]
    (note,) = [n for n in applied.notes if n.startswith("Image/cluster")]
    assert "kept from the live object: spec.additionalTrustedCA" in note
    assert "spec.allowedRegistriesForImport" in note
    assert "spec.registrySources.blockedRegistries" in note


def test_without_last_applied_every_live_key_the_file_omits_stays() -> None:
    live = image_config(blockedRegistries=["bad.example"])
    applied = apply_objects(state(config=live), _files(image_config(insecureRegistries=["i"])))
    assert applied.state.image_config["spec"]["registrySources"] == {  # type: ignore[index]
        "blockedRegistries": ["bad.example"],
        "insecureRegistries": ["i"],
    }


def test_what_oc_apply_refuses_is_not_applied() -> None:
    no_api_version = {k: v for k, v in mirror_set(IDMS, "a", (SOURCE, [M1])).items()}
    del no_api_version["apiVersion"]
    null_spec = {**mirror_set(IDMS, "b", (SOURCE, [M1])), "spec": None}
    applied = apply_objects(state(), _files(no_api_version, null_spec))
    assert applied.actions == ()
    assert [(p.object, p.field, p.rule) for p in applied.problems] == [
        ("ImageDigestMirrorSet/a", "apiVersion", "api-version"),
        ("ImageDigestMirrorSet/b", "spec", "schema"),
    ]
    assert "spec is null" in applied.problems[1].message
