"""Running spandrel networks: padding, tiles equal to the whole image, bf16 check."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import device as devices
from engine import jobs, models, pipeline, tiling
from engine.events import Message, Progress
from engine.jobs import Job
from engine.methods import RunContext
from engine.methods.pretrained import PretrainedParams, adapter
from engine.models import inference
from engine.models.loading import LoadedModel, load_uncached
from tests import model_factory as mf


def _upscale(
    loaded: LoadedModel,
    img: np.ndarray,
    *,
    precision: inference.Precision = "auto",
    tile: int | None = None,
    overlap: int = 16,
) -> Job[np.ndarray]:
    """The pretrained adapter through the pipeline's tiled pass, at native scale."""
    params = PretrainedParams(precision=precision, tile_overlap=overlap)
    ctx = RunContext(device="cpu", tile=tile)
    up = yield from adapter(loaded, img, params, ctx)
    return (yield from pipeline.infer(up, img, up.scale, ctx))


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    models.clear_cache()


def _image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth colours plus texture: what a photo gives a network."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([xx / w, yy / h, 0.5 + 0.4 * np.sin(xx / 3 + yy / 5)], axis=2)
    return np.clip(base + rng.normal(0, 0.05, base.shape), 0, 1).astype(np.float32)


def _unshuffle_rrdb() -> torch.nn.Module:
    """A Real-ESRGAN x2 style net: pixel-unshuffle in front, needs multiples of 4."""
    from spandrel.architectures.ESRGAN import ESRGAN

    net = ESRGAN(
        in_nc=12, out_nc=3, num_filters=8, num_blocks=1, scale=4, shuffle_factor=2
    )
    return mf._shrink(net, 3, 1.0)


def _in_range(net: torch.nn.Module, img: np.ndarray) -> torch.nn.Module:
    """Rescale the last conv so that ``net(img)`` sits mostly inside (0, 1).

    Random weights give outputs far outside [0, 1]; clamped, most pixels
    would be 0 or 1 in both the tiled and the whole result and hide any seam.
    The output is split into what the last conv adds (the body) and the rest
    (a residual base, or zero), and the body is scaled to a standard deviation
    of 0.1 and shifted so the output's mean is 0.5.
    """
    last = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    assert last.bias is not None
    x = torch.from_numpy(img).permute(2, 0, 1)[None]
    with torch.no_grad():
        out = net(x)
        weight, bias = last.weight.clone(), last.bias.clone()
        last.weight.zero_()
        last.bias.zero_()
        base = net(x)
        body = out - base
        k = 0.1 / float(body.std())
        last.weight.copy_(weight * k)
        shift = 0.5 - float(base.mean()) - k * float(body.mean())
        last.bias.copy_(bias * k + shift)
    return net


# maker, scale, tile, overlap: the overlap covers the receptive field, so the
# tiles see what the whole image shows them.
CASES = {
    "compact": (lambda: mf.compact(scale=2, nc=2), 2, 16, 16),
    "rrdb": (lambda: mf.rrdb(scale=4, nb=1), 4, 20, 40),
    "rrdb-unshuffle": (_unshuffle_rrdb, 2, 28, 40),
}


@pytest.mark.parametrize("name", list(CASES))
def test_tiled_output_equals_whole_image(
    tmp_path: Path, rng: np.random.Generator, name: str
) -> None:
    maker, scale, tile, overlap = CASES[name]
    img = _image(rng, 29, 39)  # odd sizes: edge tiles are partial
    net = _in_range(maker(), img)
    loaded = models.load(mf.save(net, tmp_path / f"{name}.pth"))
    assert loaded.info.scale == scale
    whole = jobs.run(_upscale(loaded, img, precision="fp32", tile=1000))
    events: list[object] = []
    tiled = jobs.run(
        _upscale(loaded, img, precision="fp32", tile=tile, overlap=overlap),
        events.append,
    )
    assert whole.shape == tiled.shape == (29 * scale, 39 * scale, 3)
    # Not flat, and not clamped: a clamped pixel would hide a seam.
    assert whole.std() > 0.05
    assert ((whole > 0) & (whole < 1)).mean() > 0.9
    assert np.abs(whole - tiled).max() <= 1 / 255
    # The check can fail: too small an overlap shows the seams.
    seams = jobs.run(_upscale(loaded, img, precision="fp32", tile=tile, overlap=2))
    assert np.abs(whole - seams).max() > 4 / 255
    assert sum(isinstance(e, Progress) for e in events) >= 4  # one per tile


def test_padding_meets_size_requirements_and_is_cropped(tmp_path: Path) -> None:
    loaded = models.load(mf.save(_unshuffle_rrdb(), tmp_path / "u.pth"))
    assert loaded.info.multiple_of == 4
    info = dataclasses.replace(loaded.info, min_size=16, square=True)
    x = torch.rand(1, 3, 5, 9)
    padded = inference.pad_to(x, info)
    assert padded.shape[-2:] == (16, 16)  # beyond reflect's reach: replicated
    assert torch.equal(padded[..., :5, :9], x)
    # A 7x13 image through a multiple-of-4 model comes back exactly 2x.
    out = jobs.run(_upscale(loaded, np.full((7, 13, 3), 0.5, np.float32)))
    assert out.shape == (14, 26, 3)


def test_needs_follow_tiling_advice_and_budget(tmp_path: Path) -> None:
    info = models.describe(mf.save(mf.rrdb(), tmp_path / "r.pth"))
    needs = inference.needs(info)
    assert not needs.whole_image and needs.overlap == 16 and needs.multiple == 1
    edge = tiling.auto_tile(4000, 3000, 4, 1536, needs.bytes_per_out_pixel)
    assert 64 <= edge < 4000
    # More memory, bigger tiles.
    assert tiling.auto_tile(4000, 3000, 4, 6144, needs.bytes_per_out_pixel) > edge
    internal = inference.needs(dataclasses.replace(info, tiling="internal"))
    assert internal.whole_image
    discouraged = inference.needs(dataclasses.replace(info, tiling="discouraged"))
    assert discouraged.overlap == 32
    assert discouraged.bytes_per_out_pixel == needs.bytes_per_out_pixel / 2
    aligned = inference.needs(dataclasses.replace(info, multiple_of=8, min_size=64))
    assert aligned.multiple == 8 and aligned.min_tile == 64


def test_bf16_is_used_only_within_one_level_of_fp32(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
) -> None:
    monkeypatch.setattr(devices, "cpu_bf16_pays", lambda: True)
    x = torch.from_numpy(_image(rng, 40, 40).transpose(2, 0, 1))[None]
    cpu = torch.device("cpu")
    real = inference.forward_fn

    for shift, verdict in ((0.5 / 255, True), (2 / 255, False)):
        loaded = load_uncached(mf.save(mf.compact(), tmp_path / "c.pth"))

        def fake(loaded, dev, bf16, shift=shift):  # type: ignore[no-untyped-def]
            fn = real(loaded, dev, False)
            return (lambda t: fn(t) + shift) if bf16 else fn

        monkeypatch.setattr(inference, "forward_fn", fake)
        assert inference.bf16_ok(loaded, x, cpu) is verdict
    monkeypatch.setattr(inference, "forward_fn", real)
    # Architectures without bf16 support, and CPUs without it, stay fp32.
    loaded = load_uncached(mf.save(mf.compact(), tmp_path / "d.pth"))
    no_bf16 = models.LoadedModel(
        dataclasses.replace(loaded.info, supports_bfloat16=False), loaded.descriptor
    )
    assert not inference.bf16_ok(no_bf16, x, cpu)
    monkeypatch.setattr(devices, "cpu_bf16_pays", lambda: False)
    assert not inference.bf16_ok(loaded, x, cpu)


def test_auto_precision_stays_within_one_level(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    loaded = models.load(mf.save(mf.compact(scale=2), tmp_path / "c.pth"))
    img = _image(rng, 20, 24)
    ref = jobs.run(_upscale(loaded, img, precision="fp32"))
    events: list[object] = []
    auto = jobs.run(_upscale(loaded, img, precision="auto"), events.append)
    assert np.abs(ref - auto).max() <= 1 / 255
    said = [e for e in events if isinstance(e, Message)]
    assert said and said[0].data["bf16"] in (True, False)


def test_grey_models_run_per_channel(tmp_path: Path, rng: np.random.Generator) -> None:
    from spandrel.architectures.Compact import Compact

    net = mf._shrink(
        Compact(num_in_ch=1, num_out_ch=1, num_feat=8, num_conv=1, upscale=2), 4, 1.0
    )
    loaded = models.load(mf.save(net, tmp_path / "grey.pth"))
    assert loaded.info.input_channels == 1 and loaded.info.channels_ok
    img = _image(rng, 12, 10)
    out = jobs.run(_upscale(loaded, img, precision="fp32"))
    assert out.shape == (24, 20, 3)
    with torch.no_grad():
        green = net(torch.from_numpy(img[..., 1].copy())[None, None]).clamp(0, 1)
    assert np.allclose(out[..., 1], green[0, 0].numpy(), atol=1e-5)


def test_the_automatic_bf16_verdict_is_measured_once_per_file_and_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
) -> None:
    monkeypatch.setattr(devices, "cpu_bf16_pays", lambda: True)
    path = mf.save(mf.compact(), tmp_path / "c.pth")
    img = _image(rng, 24, 24)
    cpu = torch.device("cpu")
    calls: list[object] = []

    def check(loaded, x, dev):  # type: ignore[no-untyped-def]
        calls.append(loaded)
        return False

    monkeypatch.setattr(inference, "bf16_ok", check)
    assert not inference.use_bf16(load_uncached(path), img, cpu, "auto")
    # A new process (a fresh network, the index re-read from disk) asks again:
    models.clear_cache()
    assert not inference.use_bf16(load_uncached(path), img, cpu, "auto")
    assert len(calls) == 1
    # Another machine (or torch build) measures for itself.
    monkeypatch.setattr(devices, "machine_key", lambda *a: "another machine")
    inference.use_bf16(load_uncached(path), img, cpu, "auto")
    assert len(calls) == 2


def test_conv_nets_run_channels_last_on_the_cpu(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    loaded = models.load(mf.save(mf.compact(scale=2), tmp_path / "c.pth"))
    cpu = torch.device("cpu")
    assert inference.memory_format(loaded.info, cpu) == torch.channels_last
    x = torch.from_numpy(_image(rng, 20, 24).transpose(2, 0, 1).copy())[None]
    with torch.inference_mode():
        plain = loaded.descriptor.model(x)
    got = inference.forward_fn(loaded, cpu, False)(x)
    conv = next(p for p in loaded.descriptor.model.parameters() if p.dim() == 4)
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert got.is_contiguous()
    assert float((got - plain.clamp(0, 1)).abs().max()) <= 1e-5
