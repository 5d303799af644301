"""Model files: detection, metadata, and every kind of bad file."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import models
from engine.models import ModelError
from tests import model_factory as mf


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    models.clear_cache()


@pytest.mark.parametrize(
    ("maker", "suffix", "arch", "scale", "purpose"),
    [
        (lambda: mf.rrdb(scale=4), ".pth", "ESRGAN", 4, "SR"),
        (lambda: mf.rrdb(scale=2), ".safetensors", "ESRGAN", 2, "SR"),
        (lambda: mf.compact(scale=2), ".pth", "Compact", 2, "SR"),
        (lambda: mf.compact(scale=4), ".safetensors", "Compact", 4, "SR"),
        (lambda: mf.span(scale=2), ".ckpt", "SPAN", 2, "SR"),
        (mf.dncnn, ".pt", "DnCNN", 1, "Restoration"),
    ],
)
def test_architecture_and_metadata_are_detected(
    tmp_path: Path, maker, suffix: str, arch: str, scale: int, purpose: str
) -> None:
    net = maker()
    path = mf.save(net, tmp_path / f"net{suffix}")
    info = models.describe(path)
    assert info.arch_id == arch
    assert info.scale == scale
    assert info.purpose == purpose
    assert (info.input_channels, info.output_channels) == (3, 3)
    assert info.parameters == sum(p.numel() for p in net.parameters())
    assert info.file_bytes == path.stat().st_size
    assert info.supports_bfloat16
    assert (info.unusable_reason is None) == (purpose == "SR")


def test_training_checkpoint_wrappers_are_unwrapped(tmp_path: Path) -> None:
    net = mf.compact()
    state = {"module." + k: v for k, v in net.state_dict().items()}
    path = tmp_path / "ckpt.pth"
    torch.save({"params_ema": state, "iter": 1000}, path)
    assert models.describe(path).arch_id == "Compact"


def test_esrgan_records_size_requirements(tmp_path: Path) -> None:
    info = models.describe(mf.save(mf.rrdb(), tmp_path / "r.pth"))
    assert info.min_size == 2 and info.multiple_of == 1 and not info.square
    assert info.tiling == "supported"
    assert "8nf" in info.tags


def test_cache_returns_the_same_network_until_the_file_changes(tmp_path: Path) -> None:
    path = mf.save(mf.compact(seed=1), tmp_path / "c.pth")
    first = models.load(path)
    assert models.load(path) is first
    mf.save(mf.compact(seed=2, nf=16), path)
    os.utime(path, ns=(1, 10**18))  # a new mtime even on coarse clocks
    assert models.load(path) is not first
    assert "16nf" in models.load(path).info.tags


def _bad(path: Path, reason: str) -> None:
    with pytest.raises(ModelError, match=reason) as err:
        models.load(path)
    assert err.value.path == path
    assert path.name in str(err.value)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pth"
    path.write_bytes(b"")
    _bad(path, "empty")


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_truncated_file(tmp_path: Path, suffix: str) -> None:
    whole = mf.save(mf.compact(), tmp_path / f"whole{suffix}")
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    _bad(path, "cut short .*get it again")


@pytest.mark.parametrize("suffix", [".pth", ".safetensors", ".ckpt"])
def test_random_bytes(tmp_path: Path, suffix: str) -> None:
    rng = np.random.default_rng(7)
    for i in range(20):  # random bytes break the unpickler in many ways
        path = tmp_path / f"noise{i}{suffix}"
        path.write_bytes(rng.bytes(4096))
        with pytest.raises(ModelError):
            models.load(path)


class _Payload:
    """Pickles into a call that creates a marker file when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("legacy", [False, True])
def test_malicious_pickle_never_runs(tmp_path: Path, legacy: bool) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    payload = {"conv.weight": torch.zeros(2), "x": _Payload(marker)}
    if legacy:
        with path.open("wb") as f:
            pickle.dump(payload, f)
    else:
        torch.save(payload, path)
    _bad(path, "could run code")
    assert not marker.exists()


def test_torchscript_archive_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "script.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("script/constants.pkl", b"\x80\x02}q\x00.")
        z.writestr("script/code/__torch__.py", "def forward(self): pass\n")
    _bad(path, "TorchScript")


def test_unknown_architecture(tmp_path: Path) -> None:
    path = tmp_path / "mystery.safetensors"
    mf.save(torch.nn.Sequential(torch.nn.Linear(4, 4)), path)
    _bad(path, "unknown architecture")


def test_weights_that_do_not_fit(tmp_path: Path) -> None:
    # Compact's keys with a body that does not chain: detection passes,
    # building the network fails.
    state = dict(mf.compact().state_dict())
    state["body.2.weight"] = torch.zeros(5, 7, 3, 3)
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    _bad(path, "do not fit")


def test_not_a_dict_and_no_tensors(tmp_path: Path) -> None:
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], path)
    _bad(path, "not a dictionary")
    path = tmp_path / "meta.pth"
    torch.save({"epoch": 3, "lr": 0.1}, path)
    _bad(path, "no weight tensors")


def test_wrong_suffix_missing_file_and_unsr_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"x")
    _bad(path, "unsupported file type")
    _bad(tmp_path / "gone.pth", "no such file")
    ours = tmp_path / "mine.unsr.pt"
    ours.write_bytes(b"x")
    _bad(ours, "unsr training checkpoint")


def test_bad_files_are_remembered_not_reread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "empty.pth"
    path.write_bytes(b"")
    with pytest.raises(ModelError):
        models.describe(path)
    calls = []
    monkeypatch.setattr(
        "engine.models.loading.load_uncached", lambda p: calls.append(p)
    )
    with pytest.raises(ModelError):
        models.describe(path)
    assert calls == []


def test_the_disk_index_spares_rebuilding_networks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = mf.save(mf.compact(), tmp_path / "good.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"")
    info = models.describe(good)
    with pytest.raises(ModelError):
        models.describe(bad)
    models.clear_cache()  # as a new process would start

    def no_loading(path: Path) -> None:
        raise AssertionError(f"rebuilt {path}")

    monkeypatch.setattr("engine.models.loading.load_uncached", no_loading)
    assert models.describe(good) == info
    with pytest.raises(ModelError, match="empty"):
        models.describe(bad)
    # A changed file misses the index and is read again.
    mf.save(mf.compact(nf=16), good)
    os.utime(good, ns=(1, 10**18))
    with pytest.raises(AssertionError, match="rebuilt"):
        models.describe(good)


def test_span_reparameterisation_is_done_once_and_output_unchanged(
    tmp_path: Path,
) -> None:
    net = mf.span(scale=2)
    x = torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        want = net(x)
    loaded = models.load(mf.save(net, tmp_path / "span.pth"))
    fused = [m for m in loaded.descriptor.model.modules() if hasattr(m, "eval_conv")]
    assert fused and all(m.update_params.__name__ == "_noop" for m in fused)
    with torch.inference_mode():
        got = loaded.descriptor.model(x)
    assert torch.allclose(got, want, atol=1e-5)


def test_bundled_unsr_checkpoints_are_listed_but_never_opened(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from engine import paths

    bundled = sorted(paths.bundled_models_dir().glob("*.unsr.pt"))
    if not bundled:
        pytest.skip("no bundled unsr checkpoints in this checkout")

    def refuse(path: Path) -> None:
        raise AssertionError(f"spandrel was asked to open {path}")

    monkeypatch.setattr("engine.models.loading.load_uncached", refuse)
    found = {e.path: e for e in models.entries() if e.source == "bundled"}
    for path in bundled:
        # Listed as the methods they are (their header, not their networks).
        assert found[path].kind == "unsr" and found[path].usable
        assert found[path].scale == 2
