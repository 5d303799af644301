"""The bundled catalogue is well-formed; malformed catalogues are refused."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from engine.models import catalogue
from engine.models.catalogue import CatalogueError


def _doc() -> dict[str, Any]:
    return json.loads(catalogue.bundled_path().read_text(encoding="utf-8"))


def test_the_bundled_catalogue_loads_with_the_issue_models() -> None:
    cat = catalogue.load()
    ids = set(cat.ids())
    wanted = {
        "realesrgan-x4plus",
        "realesrgan-x4plus-anime",
        "realesr-animevideov3-x2",
        "realesr-animevideov3-x3",
        "realesr-animevideov3-x4",
        "span-x2-ch48",
        "span-x4-ch48",
        "realcugan-se-x2-conservative",
        "realsr-df2k-x4",
        "realsr-df2k-jpeg-x4",
    }
    assert wanted <= ids
    for entry in cat.entries:
        assert entry.offered, entry.id
        assert entry.licence and entry.licence_source
        assert entry.size == sum(f.size for f in entry.files) > 0
        for source in entry.sources:
            assert sorted(n for n, _ in source.members) == sorted(
                f.name for f in entry.files
            )
            if source.kind == "pypi":
                assert source.dist and source.version and source.filename
    recommended = cat.recommended()
    assert recommended is not None
    assert recommended.purpose == "photo" and "fast" in recommended.tags
    assert recommended.size < 5_000_000


def test_a_catalogue_entry_is_found_by_id_and_unknown_ids_say_where_to_look() -> None:
    cat = catalogue.load()
    assert cat.find("realsr-df2k-x4").scale == 4
    with pytest.raises(KeyError, match="unsr models get --list"):
        cat.find("no-such-model")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.update(id="Bad Id"), "bad model id"),
        (lambda m: m.update(scale=True), "'scale' must be a int"),
        (lambda m: m.update(purpose="cats"), "purpose 'cats'"),
        (lambda m: m["files"][0].update(sha256="abc"), "64 hex digits"),
        (lambda m: m["files"][0].update(name="../evil.param"), "a file name"),
        (lambda m: m["files"].pop(), "one .param and one .bin"),
        (lambda m: m["sources"][0]["members"].popitem(), "locate every file"),
        (lambda m: m["sources"][0].update(kind="ftp"), "unknown source kind"),
    ],
)
def test_malformed_entries_are_refused_with_the_field(
    change: Any, message: str
) -> None:
    doc = _doc()
    model = copy.deepcopy(doc["models"][1])
    change(model)
    doc["models"] = [model]
    with pytest.raises(CatalogueError, match=message):
        catalogue.parse(doc)


def test_duplicate_ids_and_other_formats_are_refused(tmp_path: Path) -> None:
    doc = _doc()
    doc["models"].append(doc["models"][0])
    with pytest.raises(CatalogueError, match="appears twice"):
        catalogue.parse(doc)
    with pytest.raises(CatalogueError, match="format-1"):
        catalogue.parse({"format": 2, "models": []})
    broken = tmp_path / "c.json"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(CatalogueError, match="cannot read"):
        catalogue.load(broken)
