"""engine.batch: planning outputs, processing one file, recording it in the store."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import batch, jobs
from engine.events import Message, Progress
from engine.io import images
from engine.io.images import ImageData, ImageError, WriteError
from engine.methods.base import MethodError
from engine.store import Store


def _save(path: Path, photo: np.ndarray, mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.round(photo * 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    if mode == "L":
        image = image.convert("L")
    image.save(path)
    return path


def test_default_output_name() -> None:
    assert (
        batch.default_output_name("a/photo.png", "dualsr", 2) == "photo_dualsr_x2.png"
    )
    assert (
        batch.default_output_name("photo.JPG", "bicubic", 4) == "photo_bicubic_x4.jpg"
    )
    assert batch.default_output_name("anim.gif", "bicubic", 2) == "anim_bicubic_x2.png"
    assert batch.default_output_name("p.png", "bicubic", 3, "jpg") == "p_bicubic_x3.jpg"
    assert (
        batch.default_output_name("p.png", "my model:v2", 2) == "p_my-model-v2_x2.png"
    )


def test_plan_beside_input_and_into_folder(tmp_path: Path, photo: np.ndarray) -> None:
    a = _save(tmp_path / "in" / "a.png", photo)
    plan = batch.plan_outputs([a], None, method="bicubic", scale=2)
    assert plan.items == ((a, tmp_path / "in" / "a_bicubic_x2.png"),)
    plan = batch.plan_outputs(
        [a], tmp_path / "out", method="bicubic", scale=2, fmt="webp"
    )
    assert plan.items == ((a, tmp_path / "out" / "a_bicubic_x2.webp"),)
    plan = batch.plan_outputs([a], tmp_path / "big.tif", method="bicubic", scale=2)
    assert plan.items == ((a, tmp_path / "big.tif"),)


def test_plan_recursive_mirrors_tree(tmp_path: Path, photo: np.ndarray) -> None:
    root = tmp_path / "in"
    top = _save(root / "top.png", photo)
    deep = _save(root / "sub" / "deeper" / "deep.jpg", photo)
    (root / "sub" / "readme.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    _save(root / ".hidden" / "skip.png", photo)
    flat = batch.plan_outputs([root], tmp_path / "out", method="bicubic", scale=2)
    assert [src for src, _ in flat.items] == [top]
    plan = batch.plan_outputs(
        [root], tmp_path / "out", method="bicubic", scale=2, recursive=True
    )
    assert dict(plan.items) == {
        top: tmp_path / "out" / "top_bicubic_x2.png",
        deep: tmp_path / "out" / "sub" / "deeper" / "deep_bicubic_x2.jpg",
    }
    assert plan.problems == ()


def test_plan_skips_output_folder_inside_input(
    tmp_path: Path, photo: np.ndarray
) -> None:
    root = tmp_path / "in"
    _save(root / "a.png", photo)
    _save(root / "out" / "a_bicubic_x2.png", photo)
    plan = batch.plan_outputs(
        [root], root / "out", method="bicubic", scale=2, recursive=True
    )
    assert [src.name for src, _ in plan.items] == ["a.png"]


def test_plan_ignores_its_own_earlier_outputs(
    tmp_path: Path, photo: np.ndarray
) -> None:
    a = _save(tmp_path / "a.png", photo)
    store = Store(tmp_path / "runs.sqlite")
    jobs.run(batch.process_file(a, None, "bicubic", 2, store=store))  # a first run
    plan = batch.plan_outputs(
        [tmp_path, a], None, method="bicubic", scale=2, store=store
    )
    assert plan.items == ((a, tmp_path / "a_bicubic_x2.png"),)
    # Another method's output is an ordinary image for this run.
    plan = batch.plan_outputs([tmp_path], None, method="lanczos", scale=2, store=store)
    assert len(plan.items) == 2


def test_plan_takes_a_users_file_named_like_an_output_for_an_input(
    tmp_path: Path, photo: np.ndarray
) -> None:
    a = _save(tmp_path / "a.png", photo)
    mine = _save(tmp_path / "a_bicubic_x2.png", photo * 0.5)  # the user's own
    store = Store(tmp_path / "runs.sqlite")
    plan = batch.plan_outputs([tmp_path], None, method="bicubic", scale=2, store=store)
    assert dict(plan.items) == {
        a: tmp_path / "a_bicubic_x2-2.png",  # around the user's file
        mine: tmp_path / "a_bicubic_x2_bicubic_x2.png",
    }
    ((noted, note),) = plan.notes
    assert noted == mine and "not written by unsr" in note
    # Once unsr wrote a_bicubic_x2-2.png, a second plan finds it done, not new.
    jobs.run(
        batch.process_file(
            a, tmp_path / "a_bicubic_x2-2.png", "bicubic", 2, store=store
        )
    )
    again = batch.plan_outputs([tmp_path], None, method="bicubic", scale=2, store=store)
    assert dict(again.items)[a] == tmp_path / "a_bicubic_x2-2.png"
    assert len(again.items) == 2
    # Asked to, the plan goes over the user's file.
    forced = batch.plan_outputs(
        [a], None, method="bicubic", scale=2, store=store, overwrite_any=True
    )
    assert forced.items == ((a, mine),)


def test_plan_survives_symlink_loop(tmp_path: Path, photo: np.ndarray) -> None:
    _save(tmp_path / "in" / "a.png", photo)
    (tmp_path / "in" / "loop").symlink_to(tmp_path / "in")
    plan = batch.plan_outputs(
        [tmp_path / "in"], tmp_path / "out", method="bicubic", scale=2, recursive=True
    )
    assert [src.name for src, _ in plan.items] == ["a.png"]


def test_plan_reports_missing_and_unreadable(
    tmp_path: Path, photo: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "in"
    good = _save(root / "a.png", photo)
    locked = root / "locked"
    locked.mkdir()
    real_scandir = os.scandir

    def scandir(path: str | os.PathLike[str]):  # type: ignore[no-untyped-def]
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    plan = batch.plan_outputs(
        [root, tmp_path / "gone.png"], None, method="bicubic", scale=2, recursive=True
    )
    assert [src for src, _ in plan.items] == [good]
    reasons = dict(plan.problems)
    assert "no permission" in reasons[locked]
    assert reasons[tmp_path / "gone.png"] == "file not found"


def test_plan_gives_clashing_outputs_distinct_names(
    tmp_path: Path, photo: np.ndarray
) -> None:
    a = _save(tmp_path / "p.png", photo)
    b = _save(tmp_path / "p.bmp", photo)
    plan = batch.plan_outputs(
        [a, b], tmp_path / "o", method="bicubic", scale=2, fmt="png"
    )
    assert len({out for _, out in plan.items}) == 2


def test_plan_never_targets_an_input(tmp_path: Path, photo: np.ndarray) -> None:
    a = _save(tmp_path / "a.png", photo)
    b = _save(tmp_path / "a_bicubic_x2.png", photo)  # given explicitly: an input
    plan = batch.plan_outputs([a, b], None, method="bicubic", scale=2)
    outputs = [out.name for _, out in plan.items]
    assert outputs == ["a_bicubic_x2-2.png", "a_bicubic_x2_bicubic_x2.png"]


def test_process_file_protects_other_inputs(tmp_path: Path, photo: np.ndarray) -> None:
    a = _save(tmp_path / "a.png", photo)
    other = _save(tmp_path / "other.png", photo)
    before = other.read_bytes()
    store = Store(tmp_path / "runs.sqlite")
    job = batch.process_file(
        a, other, "bicubic", 2, store=store, overwrite=True, protect=[other]
    )
    with pytest.raises(WriteError, match="input"):
        jobs.run(job)
    assert other.read_bytes() == before


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_process_file_pipe_fails_without_blocking(tmp_path: Path) -> None:
    pipe = tmp_path / "p.png"
    os.mkfifo(pipe)
    store = Store(tmp_path / "runs.sqlite")
    with pytest.raises(ImageError, match="not a regular file"):
        jobs.run(batch.process_file(pipe, None, "bicubic", 2, store=store))
    assert store.runs() == []


def test_process_file_writes_and_records(tmp_path: Path, photo: np.ndarray) -> None:
    source = _save(tmp_path / "photo.png", photo)
    store = Store(tmp_path / "runs.sqlite")
    events: list[object] = []
    result = jobs.run(
        batch.process_file(source, None, "bicubic", 2, store=store), events.append
    )
    assert result.output == tmp_path / "photo_bicubic_x2.png"
    out = images.read(result.output)
    assert (out.height, out.width) == (96, 128)
    assert any(isinstance(e, Progress) for e in events)
    record = store.get(result.run_id)
    assert record.status == "done"
    assert record.output == result.output
    assert record.duration_s is not None and record.duration_s > 0
    assert record.input_sha256 is not None and len(record.input_sha256) == 64
    assert record.params["profile"] == "default"
    assert record.folder.is_dir()


def test_process_file_keeps_gray_alpha_and_depth(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    rgb = np.repeat(rng.random((8, 8, 1), dtype=np.float32), 3, axis=2)
    alpha = rng.random((8, 8), dtype=np.float32)
    source = images.write(
        ImageData(rgb, alpha, bit_depth=16, gray=True), tmp_path / "g.png"
    )
    store = Store(tmp_path / "runs.sqlite")
    result = jobs.run(
        batch.process_file(source, tmp_path / "o", "lanczos", 2, store=store)
    )
    out = images.read(result.output)
    assert out.gray and out.bit_depth == 16 and out.alpha is not None
    assert out.alpha.shape == (16, 16)


def test_process_file_bad_input_recorded_failed(tmp_path: Path) -> None:
    source = tmp_path / "notes.png"
    source.write_text("hello")
    store = Store(tmp_path / "runs.sqlite")
    with pytest.raises(ImageError, match=r"notes\.png"):
        jobs.run(batch.process_file(source, None, "bicubic", 2, store=store))
    (record,) = store.runs()
    assert record.status == "failed"
    assert record.error is not None and "text" in record.error
    assert not (tmp_path / "notes_bicubic_x2.png").exists()


def _files(folder: Path) -> list[str]:
    """Every entry of ``folder``, hidden temp files included."""
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def test_process_file_cancel_after_work_began_leaves_no_output(
    tmp_path: Path, photo: np.ndarray
) -> None:
    source = _save(tmp_path / "in" / "photo.png", photo)
    store = Store(tmp_path / "runs.sqlite")
    job = batch.process_file(source, tmp_path / "out", "bicubic", 2, store=store)
    stages = []
    for event in job:  # run until the upscale is done and the write is next
        if isinstance(event, Progress):
            stages.append(event.stage)
            if event.stage.startswith("writing"):
                break
    assert "interpolating" in stages  # the work had begun
    job.close()
    (record,) = store.runs()
    assert record.status == "cancelled"
    assert not (tmp_path / "out").exists() or _files(tmp_path / "out") == []
    assert store.claim(tmp_path / "out" / "photo_bicubic_x2.png")  # released


def test_process_file_cancel_mid_write_leaves_nothing_half_written(
    tmp_path: Path, photo: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.io.save

    source = _save(tmp_path / "in" / "photo.png", photo)
    out = tmp_path / "out"
    store = Store(tmp_path / "runs.sqlite")
    seen: list[list[str]] = []

    def interrupted(fd: int) -> None:
        # The bytes are in the temp file on disk: the write is under way.
        seen.append(_files(out))
        raise KeyboardInterrupt  # Ctrl-C (or SIGTERM, which the CLI maps to it)

    monkeypatch.setattr(engine.io.save.os, "fsync", interrupted)
    job = batch.process_file(source, out, "bicubic", 2, store=store)
    with pytest.raises(KeyboardInterrupt):
        jobs.run(job)
    ((part,),) = seen
    assert part.startswith(".photo_bicubic_x2.png.unsr-") and part.endswith(".part")
    assert _files(out) == []  # neither the temp file nor a partial output
    (record,) = store.runs()
    assert record.status == "cancelled"


def test_stale_parts_of_dead_writers_are_removed(tmp_path: Path) -> None:
    import subprocess
    import sys

    from engine.io.save import part_name

    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout)  # fmt: skip
    stale = tmp_path / part_name("a.png", dead)
    live = tmp_path / part_name("b.png", os.getpid())
    foreign = tmp_path / ".c.png.1a2b3c4d.part"  # not unsr's naming
    for path in (stale, live, foreign):
        path.write_bytes(b"half")
    assert batch.remove_stale_parts([tmp_path, tmp_path / "missing"]) == [stale]
    assert not stale.exists() and live.exists() and foreign.exists()


def test_unwritable_folders_are_found_once_per_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    real_open = os.open
    probes: list[str] = []

    def refuse(path: str, *args: int) -> int:
        if str(path).startswith(str(locked)):
            probes.append(str(path))
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *args)

    monkeypatch.setattr(os, "open", refuse)
    targets = [locked / f"{n}.png" for n in range(5)] + [tmp_path / "new" / "a.png"]
    assert batch.unwritable_folders(targets) == {locked: "no permission to write there"}
    assert len(probes) == 1
    assert not (tmp_path / "new").exists()  # judged by its parent, not created


def test_process_file_never_replaces_a_file_unsr_did_not_write(
    tmp_path: Path, photo: np.ndarray
) -> None:
    source = _save(tmp_path / "photo.png", photo)
    theirs = tmp_path / "photo_bicubic_x2.png"
    theirs.write_bytes(b"mine")
    store = Store(tmp_path / "runs.sqlite")
    for overwrite in (False, True):
        job = batch.process_file(
            source, None, "bicubic", 2, store=store, overwrite=overwrite
        )
        with pytest.raises(WriteError, match="unsr did not write") as info:
            jobs.run(job)
        assert not isinstance(info.value, batch.OutputTakenError)  # not "done"
        assert theirs.read_bytes() == b"mine"
    assert store.runs() == []  # nothing was upscaled for it
    result = jobs.run(
        batch.process_file(source, None, "bicubic", 2, store=store, overwrite_any=True)
    )
    assert images.read(result.output).width == 128


def test_process_file_skips_or_replaces_its_own_earlier_output(
    tmp_path: Path, photo: np.ndarray
) -> None:
    source = _save(tmp_path / "photo.png", photo)
    store = Store(tmp_path / "runs.sqlite")
    first = jobs.run(batch.process_file(source, None, "bicubic", 2, store=store))
    with pytest.raises(batch.OutputTakenError, match=f"run {first.run_id}"):
        jobs.run(batch.process_file(source, None, "bicubic", 2, store=store))
    again = jobs.run(
        batch.process_file(source, None, "bicubic", 2, store=store, overwrite=True)
    )
    assert again.output == first.output and again.run_id != first.run_id
    assert store.wrote(again.output).id == again.run_id  # type: ignore[union-attr]


def test_process_file_skips_what_another_live_run_claimed(
    tmp_path: Path, photo: np.ndarray
) -> None:
    import sqlite3

    source = _save(tmp_path / "photo.png", photo)
    store = Store(tmp_path / "runs.sqlite")
    target = tmp_path / "photo_bicubic_x2.png"
    assert store.claim(target)
    with sqlite3.connect(store.path) as conn:  # held by a live process, not us
        conn.execute("UPDATE claims SET pid = ?, pid_started = NULL", (os.getppid(),))
    with pytest.raises(batch.OutputTakenError, match="another unsr run"):
        jobs.run(batch.process_file(source, None, "bicubic", 2, store=store))
    assert not target.exists() and store.runs() == []


def test_process_file_never_writes_over_input(
    tmp_path: Path, photo: np.ndarray
) -> None:
    source = _save(tmp_path / "photo.png", photo)
    before = source.read_bytes()
    store = Store(tmp_path / "runs.sqlite")
    with pytest.raises(WriteError, match="input"):
        jobs.run(
            batch.process_file(
                source, source, "bicubic", 2, store=store, overwrite=True
            )
        )
    assert source.read_bytes() == before


def test_process_file_rejects_bad_method_before_recording(
    tmp_path: Path, photo: np.ndarray
) -> None:
    source = _save(tmp_path / "photo.png", photo)
    store = Store(tmp_path / "runs.sqlite")
    with pytest.raises(MethodError, match="unknown method"):
        jobs.run(batch.process_file(source, None, "nope", 2, store=store))
    assert store.runs() == []


def test_process_file_reports_notes(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "blue")]
    source = tmp_path / "a.gif"
    frames[0].save(source, save_all=True, append_images=frames[1:])
    events: list[object] = []
    store = Store(tmp_path / "runs.sqlite")
    result = jobs.run(
        batch.process_file(source, None, "bicubic", 2, store=store), events.append
    )
    assert result.output.suffix == ".png"
    assert any(isinstance(e, Message) and "animated" in e.text for e in events)


def test_upscale_image_keeps_metadata(photo: np.ndarray) -> None:
    image = ImageData(photo, icc_profile=b"icc", exif=b"Exif\x00\x00", bit_depth=16)
    out = jobs.run(batch.upscale_image(image, "bicubic", 2))
    assert out.rgb.shape == (96, 128, 3)
    assert (out.icc_profile, out.exif, out.bit_depth) == (b"icc", b"Exif\x00\x00", 16)


def test_process_file_uses_an_image_already_read(
    tmp_path: Path, photo: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _save(tmp_path / "a.png", photo)
    shown = images.read(source)  # what the app read to show it

    def no_second_read(*args: object, **kwargs: object) -> ImageData:
        raise AssertionError("the file was decoded again")

    monkeypatch.setattr(images, "read", no_second_read)
    store = Store(tmp_path / "store")
    result = jobs.run(
        batch.process_file(source, None, "bicubic", 2, store=store, image=shown)
    )
    monkeypatch.undo()
    assert images.read(result.output).rgb.shape == (96, 128, 3)
