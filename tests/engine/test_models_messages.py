"""What a user reads about a model file: reasons, duplicates, permissions, scale."""

from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

import numpy as np
import pytest

from engine import models, paths
from engine.methods import MethodError, registry
from engine.models import ModelError, checkpoints, sniff
from tests import model_factory as mf


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    models.clear_cache()


def _reason(path: Path) -> str:
    with pytest.raises(ModelError) as err:
        models.read_state_dict(path)
    return err.value.reason


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_a_cut_file_is_told_in_a_whole_sentence(tmp_path: Path, suffix: str) -> None:
    whole = mf.save(mf.compact(), tmp_path / f"whole{suffix}")
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    reason = _reason(cut)
    assert reason.startswith("the file is cut short")
    assert reason.endswith("get it again")
    assert "..." not in reason and "miniz" not in reason


@pytest.mark.parametrize("suffix", [".pth", ".safetensors", ".ckpt"])
def test_random_bytes_are_not_a_model_file(tmp_path: Path, suffix: str) -> None:
    rng = np.random.default_rng(3)
    for i in range(10):
        path = tmp_path / f"noise{i}{suffix}"
        path.write_bytes(rng.bytes(4096))
        reason = _reason(path)
        assert "not a model file" in reason, reason
        assert "Python objects" not in reason


def test_text_and_foreign_pickles_are_named(tmp_path: Path) -> None:
    text = tmp_path / "readme.pth"
    text.write_text("These are my notes about models.\n" * 10)
    assert "holds text" in _reason(text)
    plain = tmp_path / "plain.pth"
    plain.write_bytes(pickle.dumps({"a": [1, 2, 3]}, protocol=2))
    assert "torch.save did not write" in _reason(plain)


def test_first_sentence_never_cuts_a_word() -> None:
    long = "failed finding central directory " * 20
    short = sniff.first_sentence(long, limit=60)
    assert short.endswith(" ...") and len(short) <= 64
    assert sniff.first_sentence("Invalid magic number; corrupt file?") == (
        "Invalid magic number"
    )


def test_adding_the_same_file_twice_keeps_one_copy(tmp_path: Path) -> None:
    src = mf.save(mf.compact(), tmp_path / "x2.safetensors")
    first = models.add(src)
    again = models.add(src)
    renamed = tmp_path / "another name.safetensors"
    renamed.write_bytes(src.read_bytes())
    third = models.add(renamed)
    assert again.path == first.path == third.path
    assert [p.name for p in paths.models_dir().iterdir()] == ["x2.safetensors"]


def test_added_files_get_the_users_normal_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        entry = models.add(mf.save(mf.compact(), tmp_path / "m.pth"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(entry.path.stat().st_mode) == 0o644


def test_a_refused_file_gives_its_reason_to_the_registry(tmp_path: Path) -> None:
    folder = paths.models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "broken.pth").write_bytes(b"PK\x03\x04 half an archive")
    mf.save(mf.dncnn(), folder / "denoise.pth")
    (folder / "old.unsr.pt").write_bytes(b"not a checkpoint at all")
    listed = {e.id: e for e in models.entries()}
    assert "cut short" in listed["model:broken"].status
    assert "not a super-resolution model" in listed["model:denoise"].status
    assert "not a model file" in listed["trained-old"].status
    for method_id, words in (
        ("model:broken", "cut short"),
        ("broken", "cut short"),
        ("model:denoise", "not a super-resolution model"),
        ("trained-old", "not a model file"),
    ):
        with pytest.raises(MethodError) as err:
            registry.get(method_id)
        assert words in str(err.value) and "unknown" not in str(err.value)
    with pytest.raises(MethodError, match="unknown method 'nothing'"):
        registry.get("nothing")


def test_checkpoint_headers_are_read_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.train import checkpoint

    path = paths.models_dir() / "mine.unsr.pt"
    checkpoint.save(path, {"recipe": "maeda", "scale": 2, "inference": {}})
    head = checkpoints.header(path)
    assert (head["recipe"], head["scale"]) == ("maeda", 2)
    real = checkpoints._read

    def once(p: Path) -> dict[str, object]:
        assert p != path, "read again"
        return real(p)

    monkeypatch.setattr(checkpoints, "_read", once)
    models.clear_cache()
    assert checkpoints.header(path)["scale"] == 2
    (entry,) = [e for e in models.entries() if e.id == "trained-mine"]
    assert entry.usable and entry.scale == 2 and entry.recipe == "maeda"
    assert entry.facts()["scale"] == "x2"


def test_an_unknown_recipe_is_named(tmp_path: Path) -> None:
    from engine.train import checkpoint

    path = paths.models_dir() / "future.unsr.pt"
    checkpoint.save(path, {"recipe": "teleport", "scale": 2, "inference": {}})
    with pytest.raises(ModelError, match="recipe 'teleport'"):
        checkpoints.header(path)


def test_the_copied_tags_match_the_training_side() -> None:
    from engine.train import checkpoint
    from engine.train.recipes import RECIPES

    assert checkpoints.FORMAT == checkpoint.FORMAT
    assert set(checkpoints.RECIPES) == set(RECIPES)
