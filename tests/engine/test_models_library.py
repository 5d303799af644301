"""The models library: ids, add/remove, bundled models, bad files, methods."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import jobs, models, paths, pipeline
from engine.methods import MethodError, RunContext, available, get
from engine.models import LibraryError, ModelError
from engine.models import library as lib
from tests import model_factory as mf


@pytest.fixture(autouse=True)
def _bundled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    models.clear_cache()
    folder = tmp_path / "bundled"
    folder.mkdir()
    monkeypatch.setattr(paths, "bundled_models_dir", lambda: folder)
    return folder


def test_add_copies_a_valid_model_and_gives_a_stable_id(tmp_path: Path) -> None:
    src = mf.save(mf.compact(scale=2), tmp_path / "in" / "Tiny Compact.pth")
    entry = models.add(src)
    assert entry.id == "model:Tiny Compact"
    assert entry.source == "user" and entry.usable and entry.status == "ready"
    assert entry.path.parent == paths.models_dir()
    assert entry.path.read_bytes() == src.read_bytes()
    assert src.exists()  # a copy, the original stays
    # No half-copied temp files are left behind.
    assert [p.name for p in paths.models_dir().iterdir()] == ["Tiny Compact.pth"]
    # The same stem again gets its own id instead of shadowing the first.
    other = mf.save(mf.rrdb(scale=4), tmp_path / "in2" / "Tiny Compact.safetensors")
    second = models.add(other)
    assert second.id == "model:Tiny Compact-2"
    assert {e.id for e in models.entries()} == {
        "model:Tiny Compact",
        "model:Tiny Compact-2",
    }


def test_add_reads_the_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy has the bytes just read: listing it must not load it again
    (a second full load of a large model doubled the time an add took)."""
    from engine.models import loading

    src = mf.save(mf.rrdb(scale=2), tmp_path / "in" / "x2.pth")
    real = loading.read_state_dict
    reads: list[Path] = []

    def counted(path: Path | str) -> dict[str, torch.Tensor]:
        reads.append(Path(path))
        return real(path)

    monkeypatch.setattr(loading, "read_state_dict", counted)
    entry = models.add(src)
    assert entry.usable and entry.info is not None
    assert entry.info.path == entry.path and entry.info.scale == 2
    assert reads == [src]
    # The on-disk index knows the copy too: a later start lists it unread.
    models.clear_cache()
    assert models.entries()[0].info == entry.info
    assert reads == [src]


def test_add_refuses_bad_and_non_sr_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(ModelError, match="empty"):
        models.add(empty)
    denoiser = mf.save(mf.dncnn(), tmp_path / "denoise.pth")
    with pytest.raises(ModelError, match="restoration at 1x"):
        models.add(denoiser)
    # A face-restoration or inpainting model (too big to build here): the
    # same net with the purpose spandrel would report for them.
    real = lib.load_uncached
    for purpose, words in (("FaceSR", "face restoration"), ("Inpainting", "inpaint")):

        def fake(path: Path, purpose: str = purpose) -> models.LoadedModel:
            loaded = real(path)
            info = dataclasses.replace(loaded.info, purpose=purpose)
            return models.LoadedModel(info, loaded.descriptor)

        monkeypatch.setattr(lib, "load_uncached", fake)
        face = mf.save(mf.compact(), tmp_path / "face.pth")
        with pytest.raises(ModelError, match=words):
            models.add(face)
    assert list(paths.models_dir().iterdir()) == []


def test_bad_files_in_the_folder_are_listed_not_raised(_bundled: Path) -> None:
    folder = paths.models_dir()
    (folder / "broken.pth").write_bytes(b"\x80\x02garbage")
    mf.save(mf.compact(), folder / "good.safetensors")
    mf.save(mf.dncnn(), folder / "denoise.pth")
    (folder / "trained.unsr.pt").write_bytes(b"not for spandrel")
    (folder / ".good.safetensors.tmp123").write_bytes(b"half a copy")
    (folder / "notes.txt").write_text("hello")
    mf.save(mf.span(), _bundled / "good.pth")
    by_id = {e.id: e for e in models.entries()}
    assert set(by_id) == {
        "model:broken",
        "model:good",
        "model:denoise",
        "trained-trained",
        "model:good.pth",
    }
    assert by_id["model:broken"].error and not by_id["model:broken"].usable
    # An unsr checkpoint carries the id its registry method has.
    assert by_id["trained-trained"].kind == "unsr"
    assert by_id["trained-trained"].info is None
    assert models.find("trained").id == "trained-trained"
    # A checkpoint unsr cannot read says so; it is not "in the method list".
    assert "not a model file" in by_id["trained-trained"].status
    assert not by_id["trained-trained"].usable
    assert "not a super-resolution" in by_id["model:denoise"].status
    assert by_id["model:good.pth"].source == "bundled"
    assert by_id["model:good"].source == "user"
    # Only usable SR models become methods, with the library's ids.
    pretrained = {m.id for m in available() if m.kind == "pretrained"}
    assert pretrained == {"model:good", "model:good.pth"}
    facts = by_id["model:good"].facts()
    assert facts["architecture"] == "RealESRGAN Compact"
    assert facts["scale"] == "x2"
    assert facts["precision"] == "fp32, fp16, bf16"


def test_remove_deletes_user_files_only(tmp_path: Path, _bundled: Path) -> None:
    entry = models.add(mf.save(mf.compact(), tmp_path / "mine.pth"))
    mf.save(mf.compact(), _bundled / "shipped.pth")
    with pytest.raises(LibraryError, match="ships with unsr"):
        models.remove("model:shipped")
    assert (_bundled / "shipped.pth").exists()
    assert models.remove("mine") == entry.path  # the prefix may be left out
    assert not entry.path.exists()
    with pytest.raises(LibraryError, match="no model 'mine'"):
        models.find("mine")


def test_method_runs_at_native_scale_and_resizes_other_scales(
    tmp_path: Path, photo: np.ndarray
) -> None:
    models.add(mf.save(mf.compact(scale=2), tmp_path / "c2.pth"))
    method = get("model:c2")
    assert method.kind == "pretrained" and 2 in method.scales and 4 in method.scales
    small = photo[:20, :24]
    native = jobs.run(pipeline.upscale(small, method, 2))
    assert native.rgb.shape == (40, 48, 3)
    events: list[object] = []
    resized = jobs.run(pipeline.upscale(small, method, 3), events.append)
    assert resized.rgb.shape == (60, 72, 3)
    assert any("resized to x3" in getattr(e, "text", "") for e in events)
    with pytest.raises(MethodError, match="x2 model"):
        jobs.run(pipeline.upscale(small, method, 4, method.params_for("native")))


def test_model_file_replaced_by_garbage_fails_clearly(
    tmp_path: Path, photo: np.ndarray
) -> None:
    entry = models.add(mf.save(mf.compact(scale=2), tmp_path / "c.pth"))
    method = get(entry.id)
    entry.path.write_bytes(b"")
    with pytest.raises(ModelError, match=r"c\.pth: the file is empty"):
        jobs.run(pipeline.upscale(photo, method, 2, ctx=RunContext()))


def test_torch_state_is_not_mutated_by_listing(tmp_path: Path) -> None:
    models.add(mf.save(mf.compact(), tmp_path / "c.pth"))
    assert torch.is_grad_enabled()
    models.entries()
    assert torch.is_grad_enabled()


def test_an_unreadable_models_folder_leaves_the_builtins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def denied() -> Path:
        raise PermissionError("models folder: permission denied")

    monkeypatch.setattr(paths, "models_dir", denied)
    ids = [m.id for m in available()]
    assert ids[:2] == ["bicubic", "lanczos"]
    with pytest.raises(PermissionError):
        models.entries()  # the CLI and the page report this one
