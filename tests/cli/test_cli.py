"""The unsr command line, end to end on temp folders, in-process."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import metrics
from engine.cli import COMMANDS, build_parser, main
from engine.cli.progress import BatchProgress, FileProgress, format_eta
from engine.events import Message, Progress
from engine.io import images
from engine.store import Store


def _save(
    path: Path, rng: np.random.Generator, size: tuple[int, int] = (20, 24)
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
    return path


def test_batch_with_one_bad_file_goes_on(
    tmp_path: Path, rng: np.random.Generator, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in"
    _save(src / "a.png", rng)
    _save(src / "c.png", rng)
    (src / "b.png").write_text("this is a text file")
    code = main(["upscale", str(src), "-o", str(tmp_path / "out"), "-m", "bicubic"])
    captured = capsys.readouterr()
    assert code == 1
    assert (tmp_path / "out" / "a_bicubic_x2.png").exists()
    assert (tmp_path / "out" / "c_bicubic_x2.png").exists()
    assert not (tmp_path / "out" / "b_bicubic_x2.png").exists()
    assert "b.png: not an image: the file contains text" in captured.err
    assert "2 written, 1 failed" in captured.out
    assert "b.png" in captured.out
    statuses = sorted(r.status for r in Store().runs())
    assert statuses == ["done", "done", "failed"]


def test_all_good_exit_zero_and_progress(
    tmp_path: Path, rng: np.random.Generator, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _save(tmp_path / "a.png", rng)
    code = main(["upscale", str(a), "-s", "3", "--format", "jpg", "--quality", "80"])
    captured = capsys.readouterr()
    assert code == 0
    out = images.read(tmp_path / "a_bicubic_x3.jpg")
    assert (out.height, out.width) == (60, 72)
    assert "[1/1]" in captured.err and "interpolating" in captured.err
    assert "batch [####################] 1/1 files" in captured.err
    assert "1 written, 0 failed" in captured.out


def test_disk_full_reported_per_file_and_nothing_left(
    tmp_path: Path,
    rng: np.random.Generator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import errno
    import os

    _save(tmp_path / "in" / "a.png", rng)
    _save(tmp_path / "in" / "b.png", rng)
    out = tmp_path / "out"
    real_fsync = os.fsync
    calls = []

    def fill_up(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 1:  # the first output fills the disk
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fill_up)
    assert main(["upscale", str(tmp_path / "in"), "-o", str(out)]) == 1
    captured = capsys.readouterr()
    assert "a.png: cannot write" in captured.err
    assert "a_bicubic_x2.png: the disk is full" in captured.err
    assert sorted(p.name for p in out.iterdir()) == ["b_bicubic_x2.png"]


def test_unwritable_output_folder(
    tmp_path: Path,
    rng: np.random.Generator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import errno
    import os

    a = _save(tmp_path / "a.png", rng)
    out = tmp_path / "locked"
    out.mkdir()
    real_open = os.open

    def refuse(path: str, *args: int) -> int:
        if str(path).startswith(str(out)):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_open(path, *args)

    monkeypatch.setattr(os, "open", refuse)
    assert main(["upscale", str(a), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"cannot write to {out}: no permission" in err
    assert "nothing was done" in err
    assert list(out.iterdir()) == []
    assert Store().runs() == []  # found out before any file was upscaled


def test_unexpected_error_in_a_method_does_not_stop_batch(
    tmp_path: Path,
    rng: np.random.Generator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from engine.batch import file as batch_file

    real = batch_file.upscale_image
    calls = []

    def flaky(image, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 1:
            raise TypeError("a bug in a method")
        return (yield from real(image, *args, **kwargs))

    monkeypatch.setattr(batch_file, "upscale_image", flaky)
    _save(tmp_path / "a.png", rng)
    _save(tmp_path / "b.png", rng)
    assert main(["upscale", str(tmp_path), "-o", str(tmp_path / "o")]) == 1
    assert "a.png: unexpected TypeError: a bug in a method" in capsys.readouterr().err
    assert (tmp_path / "o" / "b_bicubic_x2.png").exists()


def test_recursive_mirrors_tree(
    tmp_path: Path, rng: np.random.Generator, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in"
    _save(src / "top.png", rng)
    _save(src / "x" / "y" / "deep.bmp", rng)
    (src / "x" / "notes.txt").write_text("skip me quietly")
    out = tmp_path / "out"
    assert main(["upscale", str(src), "-r", "-o", str(out), "-m", "lanczos"]) == 0
    made = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert made == ["top_lanczos_x2.png", "x/y/deep_lanczos_x2.bmp"]
    assert "notes.txt" not in capsys.readouterr().err


def test_existing_output_skipped_not_overwritten(
    tmp_path: Path, rng: np.random.Generator, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _save(tmp_path / "a.png", rng)
    assert main(["upscale", str(a)]) == 0
    ours = tmp_path / "a_bicubic_x2.png"
    before = ours.read_bytes()
    capsys.readouterr()
    assert main(["upscale", str(a)]) == 0
    captured = capsys.readouterr()
    assert "skipped: already written by unsr" in captured.err
    assert "0 written, 1 skipped, 0 failed" in captured.out
    assert ours.read_bytes() == before
    assert main(["upscale", str(a), "--overwrite"]) == 0
    assert "1 written" in capsys.readouterr().out


def test_users_file_named_like_an_output_is_never_done_nor_replaced(
    tmp_path: Path, rng: np.random.Generator, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _save(tmp_path / "a.png", rng)
    theirs = tmp_path / "a_bicubic_x2.png"
    theirs.write_bytes(b"keep")
    for flags in ([], ["--overwrite"]):
        assert main(["upscale", str(a), *flags]) == 0
        assert theirs.read_bytes() == b"keep"
        captured = capsys.readouterr()
        assert "not written by unsr" in captured.err
        assert "skipped" not in captured.out
    written = tmp_path / "a_bicubic_x2-2.png"
    assert images.read(written).width == 48
    # Only the distinct flag replaces a file unsr did not write.
    assert main(["upscale", str(a), "--overwrite-any"]) == 0
    assert images.read(theirs).width == 48


def test_output_file_for_one_input(
    tmp_path: Path, rng: np.random.Generator, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _save(tmp_path / "a.png", rng)
    b = _save(tmp_path / "b.png", rng)
    assert main(["upscale", str(a), "-o", str(tmp_path / "big.tif")]) == 0
    assert images.read(tmp_path / "big.tif").width == 48
    assert main(["upscale", str(a), str(b), "-o", str(tmp_path / "x.png")]) == 2
    assert "-o names a file" in capsys.readouterr().err


def test_missing_input_reported(
    tmp_path: Path, rng: np.random.Generator, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _save(tmp_path / "a.png", rng)
    assert main(["upscale", str(a), str(tmp_path / "gone.jpg")]) == 1
    assert "gone.jpg: file not found" in capsys.readouterr().err


def test_bit_depth_and_tile_options(
    tmp_path: Path, rng: np.random.Generator, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _save(tmp_path / "a.png", rng)
    code = main(
        ["upscale", str(a), "--bit-depth", "16", "--tile", "auto", "--device", "cpu"]
    )
    assert code == 0
    assert images.read(tmp_path / "a_bicubic_x2.png").bit_depth == 16


@pytest.mark.parametrize(
    "argv",
    [
        ["upscale", "x.png", "-m", "no-such-method"],
        ["upscale", "x.png", "-s", "99"],
        ["upscale", "x.png", "-p", "no-such-profile"],
        ["upscale", "x.png", "--quality", "0"],
        ["upscale", "x.png", "--tile", "huge"],
        ["upscale"],
        [],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err


def test_missing_gpu_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine import device

    def no_gpu(name: str) -> None:
        raise ValueError(f"{name.upper()} was asked for, but none is available")

    monkeypatch.setattr(device, "pick", no_gpu)
    assert main(["upscale", "x.png", "--device", "cuda"]) == 2
    assert "CUDA was asked for" in capsys.readouterr().err


def test_methods_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header == ["id", "label", "scales", "profiles", "fit?", "description"]
    assert any(
        line.startswith("bicubic ") and "x1-x8" in line for line in out.splitlines()
    )


def test_runs_table(
    tmp_path: Path, rng: np.random.Generator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs"]) == 0
    assert "no runs recorded yet" in capsys.readouterr().out
    a = _save(tmp_path / "a.png", rng)
    main(["upscale", str(a), "-m", "lanczos"])
    capsys.readouterr()
    assert main(["runs", "--limit", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["id", "when", "status"]
    assert "done" in lines[2] and "lanczos" in lines[2] and "a.png" in lines[2]


def test_eval_prints_figures(
    tmp_path: Path,
    rng: np.random.Generator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        metrics, "lpips_unavailable_reason", lambda: "AlexNet weights not on disk"
    )
    hr = _save(tmp_path / "hr.png", rng, (32, 32))
    noisy = np.clip(images.read(hr).rgb + rng.normal(0, 0.05, (32, 32, 3)), 0, 1)
    sr = images.write(images.ImageData(noisy.astype(np.float32)), tmp_path / "sr.png")
    assert main(["eval", str(sr), str(hr), "--shave", "2"]) == 0
    out = capsys.readouterr().out
    psnr = float(out.split("PSNR (Y): ")[1].split(" dB")[0])
    assert 20 < psnr < 40
    assert "SSIM (Y): 0." in out
    assert "LPIPS: unavailable (AlexNet weights not on disk)" in out
    assert main(["eval", str(sr), str(hr), "--rgb"]) == 0
    assert "PSNR (RGB)" in capsys.readouterr().out


def test_eval_size_mismatch_and_bad_file(
    tmp_path: Path, rng: np.random.Generator, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _save(tmp_path / "a.png", rng, (16, 16))
    b = _save(tmp_path / "b.png", rng, (32, 32))
    assert main(["eval", str(a), str(b)]) == 1
    assert "differ in size" in capsys.readouterr().err
    assert main(["eval", str(a), str(tmp_path / "none.png")]) == 1
    assert "none.png: file not found" in capsys.readouterr().err


def test_commands_are_an_explicit_table() -> None:
    assert len(COMMANDS) >= 4
    help_text = build_parser().format_help()
    for name in ("upscale", "methods", "runs", "eval"):
        assert name in help_text


# --- progress printing ---------------------------------------------------------


def test_format_eta() -> None:
    assert format_eta(None) == "?"
    assert format_eta(7.4) == "0:07"
    assert format_eta(754) == "12:34"
    assert format_eta(3723) == "1:02:03"


def test_progress_without_tty_prints_occasional_lines() -> None:
    stream = io.StringIO()
    now = [0.0]
    bar = FileProgress(stream, "[1/2]", tty=False, every_s=5.0, clock=lambda: now[0])
    for step in range(1, 11):
        now[0] = step * 1.0
        bar.on_event(Progress(step, 10, "upscaling tiles", eta_s=10.0 - step))
    bar.on_event(Message("animated: first of 3 frames used", "warning"))
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    # The first event, then one line per 5 s: steps 1, 6 (and the warning).
    assert len(lines) == 3
    assert lines[0].startswith("[1/2] upscaling tiles [##")
    assert "10% ETA 0:09" in lines[0]
    assert lines[2] == "[1/2] warning: animated: first of 3 frames used"


def test_progress_on_tty_redraws_in_place() -> None:
    stream = io.StringIO()
    bar = FileProgress(stream, "", tty=True)
    bar.on_event(Progress(1, 4, "fitting", eta_s=3.0))
    bar.on_event(Progress(4, 4, "fitting", eta_s=0.0))
    bar.line("done")
    text = stream.getvalue()
    assert text.count("\r") >= 3
    assert "\n" not in text[:-1]  # only the final line ends with a newline
    assert "100% ETA 0:00" in text and text.endswith("done\n")


def test_progress_estimates_eta_when_job_gives_none() -> None:
    stream = io.StringIO()
    now = [100.0]
    bar = FileProgress(stream, tty=False, every_s=0.0, clock=lambda: now[0])
    bar.on_event(Progress(0, 4, "interpolating"))
    now[0] = 102.0
    bar.on_event(Progress(1, 4, "interpolating"))  # 2 s per step, 3 to go
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("ETA ?")
    assert lines[1].endswith("25% ETA 0:06")


def test_batch_progress_eta() -> None:
    now = [0.0]
    progress = BatchProgress(4, clock=lambda: now[0])
    assert progress.prefix() == "[1/4]"
    now[0] = 10.0
    progress.step()
    assert progress.prefix() == "[2/4]"
    assert progress.status() == "batch [#####---------------] 1/4 files, ETA 0:30"


@pytest.mark.skipif(sys.platform != "linux", reason="Linux names may be any bytes")
def test_file_name_that_is_not_utf8(
    tmp_path: Path, rng: np.random.Generator, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    name = os.fsdecode(b"caf\xe9.png")  # Latin-1 bytes: not valid UTF-8
    src = _save(tmp_path / name, rng)
    assert main(["upscale", str(src)]) == 0
    captured = capsys.readouterr()
    assert "1 written, 0 failed" in captured.out
    assert "caf\\xe9.png" in captured.err  # shown readably
    (record,) = Store().runs()
    assert record.status == "done" and record.input_path == src
    assert record.output == tmp_path / os.fsdecode(b"caf\xe9_bicubic_x2.png")
    assert main(["runs"]) == 0
    assert "caf\\xe9.png" in capsys.readouterr().out


def test_unwritable_history_stops_before_any_work(
    tmp_path: Path,
    rng: np.random.Generator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    a = _save(tmp_path / "a.png", rng)
    Store()  # the history exists; then its folder turns read-only
    data = os.environ["UNSR_DATA_DIR"]
    real_open = os.open

    def refuse(path: str, *args: int) -> int:
        if str(path).startswith(data) and ".unsr-probe-" in str(path):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *args)

    monkeypatch.setattr(os, "open", refuse)
    assert main(["upscale", str(a)]) == 1
    err = capsys.readouterr().err
    assert f"cannot record runs in {data}" in err and "nothing was done" in err
    assert not (tmp_path / "a_bicubic_x2.png").exists()
