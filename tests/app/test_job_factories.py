"""The job factories: output names, the real job on a tiny file, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import jobs
from engine.io.images import ImageError
from unsr_app import job_factories
from unsr_app.requests import RunRequest


def _png(path: Path, mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    channels = len(mode)
    Image.fromarray((rng.random((6, 8, channels)) * 255).astype(np.uint8), mode).save(
        path
    )
    return path


def test_output_goes_beside_the_input_with_method_and_scale(tmp_path: Path) -> None:
    src = _png(tmp_path / "photo.png")
    out = job_factories.output_path(src, RunRequest("dualsr", 2, fmt="png"), None)
    assert out == tmp_path / "photo_dualsr_x2.png"
    out.write_bytes(b"taken")
    again = job_factories.output_path(src, RunRequest("dualsr", 2), None)
    assert again == tmp_path / "photo_dualsr_x2-2.png"  # the planner's "-2" style


def test_output_mirrors_a_dropped_folder(tmp_path: Path) -> None:
    src = _png(tmp_path / "shoot" / "day2" / "a.jpg")
    request = RunRequest("bicubic", 3, output_dir=tmp_path / "out", fmt="jpeg")
    out = job_factories.output_path(src, request, tmp_path / "shoot")
    assert out == tmp_path / "out" / "day2" / "a_bicubic_x3.jpg"


def test_real_job_writes_the_result_and_keeps_alpha(tmp_path: Path) -> None:
    src = _png(tmp_path / "logo.png", "RGBA")
    before = src.read_bytes()
    job = job_factories.process_file_job(src, RunRequest("bicubic", 2), None)
    outcome = jobs.run(job)
    with Image.open(outcome.output) as img:
        assert img.size == (16, 12) and img.mode == "RGBA"
    assert src.read_bytes() == before
    assert _temp_files(tmp_path) == [], "no temp file is left behind"


#: How engine/io/save.py names a file being written: ``.NAME.xxxxxxxx.part``.
_TEMP_GLOB = ".*.part"


def _temp_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(_TEMP_GLOB))


def test_the_temp_file_glob_matches_what_unsr_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Look in the folder at the moment the engine renames its temp file into
    # place: the glob must find exactly that temp file then, and nothing after.
    from engine.io import save

    seen: list[tuple[str, list[Path]]] = []
    publish = save._publish

    def watched(tmp: str, path: Path, overwrite: bool) -> None:
        seen.append((tmp, _temp_files(path.parent)))
        publish(tmp, path, overwrite)

    monkeypatch.setattr(save, "_publish", watched)
    src = _png(tmp_path / "photo.png")
    jobs.run(job_factories.process_file_job(src, RunRequest("bicubic", 2), None))
    [(tmp, found)] = seen
    assert found == [Path(tmp)]
    assert found[0].name.startswith(".photo_bicubic_x2.png.")
    assert _temp_files(tmp_path) == []


@pytest.mark.parametrize("content", [b"", b"hello, I am text"])
def test_bad_file_raises_naming_it(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(content)
    with pytest.raises(ImageError, match=r"broken\.png"):
        jobs.run(job_factories.process_file_job(bad, RunRequest("bicubic", 2), None))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.png"]


def test_metrics_job_scores_identical_images_perfectly() -> None:
    rng = np.random.default_rng(3)
    img = rng.random((16, 16, 3)).astype(np.float32)
    scores = jobs.run(job_factories.metrics_job(img, img))
    assert scores["SSIM"] == pytest.approx(1.0)
    assert scores["PSNR"] > 60 or np.isinf(scores["PSNR"])  # type: ignore[operator]


def test_the_method_is_resolved_once_per_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.batch import file

    calls: list[str] = []
    real = file.get_method

    def counting(method_id: str):  # type: ignore[no-untyped-def]
        calls.append(method_id)
        return real(method_id)

    monkeypatch.setattr(file, "get_method", counting)
    batch = job_factories.FileJobs()
    request = RunRequest("bicubic", 2)
    for name in ("a.png", "b.png", "c.png"):
        jobs.run(batch(_png(tmp_path / name), request, None))
    assert calls == ["bicubic"]
    jobs.run(job_factories.FileJobs()(_png(tmp_path / "d.png"), request, None))
    assert calls == ["bicubic", "bicubic"]  # a new batch looks it up again


def test_folders_expand_as_the_batch_planner_scans_them(tmp_path: Path) -> None:
    from engine import batch as engine_batch

    shoot = tmp_path / "shoot"
    kept = [_png(shoot / "a.png"), _png(shoot / "day2" / "b.png")]
    _png(shoot / ".hidden.png")  # dot files are not photos of the shoot
    _png(shoot / ".thumbs" / "c.png")
    # An earlier result of this method and scale, written by unsr (the run
    # history knows it; a user's file of that name would be an input).
    jobs.run(engine_batch.process_file(kept[0], None, "bicubic", 2))
    assert (shoot / "a_bicubic_x2.png").exists()
    (shoot / "day2" / "loop").symlink_to(shoot, target_is_directory=True)
    (shoot / "notes.txt").write_text("not an image")
    single = _png(tmp_path / "single.png")
    found = jobs.run(
        job_factories.expand_job(
            [single, shoot, tmp_path / "missing.png"], RunRequest("bicubic", 2)
        )
    )
    assert list(found.files) == [(single, None), *[(p, shoot) for p in kept]]
    assert len(found.thumbnails) == 3
    assert not found.thumbnails[0].isNull()
    assert found.problems == ((tmp_path / "missing.png", "it does not exist"),)


def test_a_shown_input_is_not_decoded_again_by_its_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.io import images

    photo = _png(tmp_path / "a.png")
    shown = jobs.run(job_factories.view_job(photo, None, None))
    assert shown.before is not None
    reads: list[Path] = []
    real = images.read

    def counting(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(Path(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(images, "read", counting)
    outcome = jobs.run(job_factories.process_file_job(photo, RunRequest("bicubic", 2)))
    assert outcome.output.exists()
    assert photo not in reads  # the viewer's pixels were used
    # A second run of the same file reads it (the kept image was handed over once).
    jobs.run(job_factories.process_file_job(photo, RunRequest("bicubic", 2)))
    assert reads.count(photo) == 1
