from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from engine import device as devices
from engine import tiling
from engine.events import Event, Message, Progress
from engine.jobs import Job, run

LEVEL = 1.0 / 255.0


def _net(seed: int = 0, scale: int = 2, width: int = 16) -> nn.Module:
    """Three 3x3 convs (receptive radius 3 input px) and a pixel shuffle."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, 3 * scale * scale, 3, padding=1),
        nn.PixelShuffle(scale),
    )
    return net.eval()


def _image(rng: np.random.Generator, h: int, w: int) -> torch.Tensor:
    return torch.from_numpy(rng.random((1, 3, h, w), dtype=np.float32))


def _collect(job: Job[torch.Tensor]) -> tuple[object, list[Event]]:
    events: list[Event] = []
    result = run(job, events.append)
    return result, events


@pytest.mark.parametrize("tile", [16, 23, 40, 200])
def test_tiled_matches_whole(rng: np.random.Generator, tile: int) -> None:
    net = _net()
    x = _image(rng, 45, 61)  # neither side divisible by the tiles
    with torch.inference_mode():
        whole = net(x)
    out, events = _collect(tiling.upscale_tiled(net, x, 2, tile, overlap=8))
    assert isinstance(out, torch.Tensor)
    assert out.shape == whole.shape
    assert float((out - whole).abs().max()) < LEVEL
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[-1].step == progress[-1].total >= 1
    if tile == 200:
        assert progress[-1].total == 1


@pytest.mark.parametrize("shape", [(1, 50), (50, 1), (1, 1), (2, 70)])
def test_thin_images(rng: np.random.Generator, shape: tuple[int, int]) -> None:
    net = _net(scale=3)
    x = _image(rng, *shape)
    with torch.inference_mode():
        whole = net(x)
    out, _ = _collect(tiling.upscale_tiled(net, x, 3, 16, overlap=8))
    assert isinstance(out, torch.Tensor)
    assert out.shape == (1, 3, shape[0] * 3, shape[1] * 3)
    assert float((out - whole).abs().max()) < LEVEL


def _oom_above(net: nn.Module, limit: int, message: str) -> Callable[..., torch.Tensor]:
    seen: list[int] = []

    def fn(t: torch.Tensor) -> torch.Tensor:
        seen.append(max(t.shape[2:]))
        if t.shape[2] * t.shape[3] > limit * limit:
            raise RuntimeError(message)
        out: torch.Tensor = net(t)
        return out

    fn.seen = seen  # type: ignore[attr-defined]
    return fn


@pytest.mark.parametrize(
    "message",
    [
        "CUDA out of memory. Tried to allocate 2.00 GiB",
        "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: "
        "can't allocate memory: you tried to allocate 3221225472 bytes.",
    ],
)
def test_backs_off_on_out_of_memory(rng: np.random.Generator, message: str) -> None:
    net = _net()
    x = _image(rng, 44, 50)
    fn = _oom_above(net, 20, message)
    out, events = _collect(tiling.upscale_tiled(fn, x, 2, 64, overlap=8, min_tile=16))
    with torch.inference_mode():
        whole = net(x)
    assert isinstance(out, torch.Tensor)
    assert float((out - whole).abs().max()) < LEVEL
    warnings = [e for e in events if isinstance(e, Message)]
    assert [m.data["tile"] for m in warnings] == [32, 16]
    assert all(m.level == "warning" and "out of memory" in m.text for m in warnings)
    assert max(fn.seen[-4:]) <= 16  # type: ignore[attr-defined]


def test_gives_up_below_the_minimum_tile(rng: np.random.Generator) -> None:
    fn = _oom_above(_net(), 4, "out of memory")
    job = tiling.upscale_tiled(fn, _image(rng, 40, 40), 2, 32, min_tile=16)
    with pytest.raises(tiling.TileMemoryError, match="16 px tiles"):
        run(job)


def test_other_errors_are_not_mistaken_for_memory(rng: np.random.Generator) -> None:
    def broken(t: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("shape mismatch in conv")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        run(tiling.upscale_tiled(broken, _image(rng, 20, 20), 2, 16))


def test_wrong_output_size_is_a_clear_error(rng: np.random.Generator) -> None:
    net = _net(scale=2)
    with pytest.raises(ValueError, match="expected x4"):
        run(tiling.upscale_tiled(net, _image(rng, 20, 20), 4, 16))


def test_is_out_of_memory() -> None:
    assert tiling.is_out_of_memory(MemoryError())
    assert tiling.is_out_of_memory(torch.cuda.OutOfMemoryError("x"))
    assert tiling.is_out_of_memory(RuntimeError("MPS backend out of memory"))
    assert not tiling.is_out_of_memory(RuntimeError("size mismatch"))
    assert not tiling.is_out_of_memory(ValueError("out of memory"))


def test_auto_tile_falls_with_the_budget() -> None:
    sizes = [
        tiling.auto_tile(3000, 4000, 2, mb, bytes_per_out_pixel=768)
        for mb in (4096, 1024, 256, 64, 16)
    ]
    assert sizes == sorted(sizes, reverse=True)
    assert len(set(sizes)) == len(sizes)
    # The chosen tile's pass fits the budget.
    for mb, t in zip((4096, 1024, 256, 64), sizes, strict=False):
        assert (t * 2) ** 2 * 768 <= mb * 2**20
        assert t % 8 == 0
    # Heavier networks get smaller tiles; a tiny budget stops at the minimum.
    assert tiling.auto_tile(3000, 4000, 2, 256, 2048) < sizes[2]
    assert tiling.auto_tile(3000, 4000, 4, 1, 4096, min_tile=32) == 32


def test_auto_tile_whole_image_and_thin_images() -> None:
    assert tiling.auto_tile(48, 64, 2, 1536) == 64  # fits: one tile
    thin = tiling.auto_tile(4, 100_000, 2, 16, bytes_per_out_pixel=1024)
    # 16 MiB / (1024 B * 4) = 4096 input px per tile = 4 rows x 1024 columns.
    assert thin == 1024


def test_upscale_array_matches_whole(rng: np.random.Generator) -> None:
    net = _net()
    rgb = rng.random((37, 29, 3), dtype=np.float32)
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None]
    with torch.inference_mode():
        whole = net(x).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    for channels_last in (False, True):
        job = tiling.upscale_array(
            net, rgb, 2, device="cpu", tile=16, overlap=8, channels_last=channels_last
        )
        out = run(job)
        assert out.shape == (74, 58, 3) and out.dtype == np.float32
        assert out.min() >= 0.0 and out.max() <= 1.0
        assert float(np.abs(out - whole).max()) < LEVEL


def test_upscale_array_picks_tile_from_budget(rng: np.random.Generator) -> None:
    net = _net()
    rgb = rng.random((40, 40, 3), dtype=np.float32)
    # 80x80 output * 1 KiB would be 6.25 MiB: a 1 MiB budget must tile it.
    events: list[Event] = []
    run(
        tiling.upscale_array(
            net, rgb, 2, memory_mb=1, bytes_per_out_pixel=1024, min_tile=8
        ),
        events.append,
    )
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[-1].total > 1


class _Amplifier(nn.Module):
    """Computes 300x - 299x through convs: exact in fp32, ruined in bf16."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 6, 1, bias=False)
        self.b = nn.Conv2d(6, 3, 1, bias=False)
        with torch.no_grad():
            eye = torch.eye(3)[:, :, None, None]
            self.a.weight.copy_(torch.cat([eye * 300, eye * 299]))
            self.b.weight.copy_(torch.cat([eye, -eye], dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.b(self.a(x))
        return nn.functional.interpolate(y, scale_factor=2, mode="nearest")


@pytest.mark.parametrize("pays", [True, False])
def test_bf16_request_never_costs_more_than_a_level(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, pays: bool
) -> None:
    # Whatever this CPU is: with AMX the crop check decides, without it every
    # pass runs fp32 and there is nothing to tell the user.
    monkeypatch.setattr(devices, "cpu_bf16_pays", lambda: pays)
    rgb = rng.random((40, 56, 3), dtype=np.float32)
    for net in (_net(), _Amplifier()):
        fp32 = run(tiling.upscale_array(net, rgb, 2, tile=32, overlap=8))
        events: list[Event] = []
        low = run(
            tiling.upscale_array(net, rgb, 2, tile=32, overlap=8, bf16=True),
            events.append,
        )
        assert float(np.abs(low - fp32).max()) <= LEVEL
        skipped = [e for e in events if isinstance(e, Message) and "bf16" in e.text]
        if not pays:
            assert not skipped
            np.testing.assert_array_equal(low, fp32)
        elif isinstance(net, _Amplifier):
            assert skipped, "the amplifier cannot pass in bf16"
            np.testing.assert_array_equal(low, fp32)


def test_upscale_array_takes_read_only_and_float64_input(
    rng: np.random.Generator,
) -> None:
    net = _net()
    rgb = rng.random((20, 24, 3))
    ro = rgb.astype(np.float32)
    ro.setflags(write=False)
    a = run(tiling.upscale_array(net, rgb, 2, tile=16, overlap=8))
    b = run(tiling.upscale_array(net, ro, 2, tile=16, overlap=8))
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_support_radius_adds_up_every_convolution() -> None:
    assert tiling.support_radius([_net()]) == 3  # three 3x3 convs
    wide = nn.Sequential(nn.Conv2d(3, 3, 5, padding=4, dilation=2), _net())
    assert tiling.support_radius([wide]) == 4 + 3


def test_receptive_radius_is_what_tiles_must_overlap(
    rng: np.random.Generator,
) -> None:
    net = _net(width=8)
    radius = tiling.receptive_radius(net, [net], limit=tiling.support_radius([net]))
    assert 1 <= radius <= 3
    x = _image(rng, 45, 61)
    with torch.inference_mode():
        whole = net(x)
    # Twice the radius: the outer half of an overlap is discarded.
    out = run(tiling.upscale_tiled(net, x, 2, 16, overlap=2 * radius))
    assert float((out - whole).abs().max()) <= LEVEL
    seams = run(tiling.upscale_tiled(net, x, 2, 16, overlap=0))
    assert float((seams - whole).abs().max()) > LEVEL


def test_receptive_radius_holds_global_pooling_fixed() -> None:
    from engine.nets.blocks import RCAB

    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), RCAB(16, 4), nn.Conv2d(16, 3, 3, padding=1)
    ).eval()
    for p in net.parameters():  # a trained net's gate is not a constant
        p.data.add_(torch.randn_like(p) * 0.5)
    convs = tiling.support_radius([net])
    assert convs == 1 + 2 + 1
    with torch.inference_mode():  # as a caller's job may run
        radius = tiling.receptive_radius(net, [net], limit=12)
        # Without holding the pooled means, the whole probe seems in reach.
        everywhere = tiling.receptive_radius(net, [], limit=12)
    assert radius <= convs < everywhere
    assert all(p.grad is None for p in net.parameters())


def test_closing_a_tiled_pass_stops_it_at_the_next_tile(
    rng: np.random.Generator,
) -> None:
    """Each tile is a cancellation point: Stop during a long pass over a large
    photo waits for one tile, never for the rest of the image."""
    net = _net()
    calls: list[tuple[int, ...]] = []

    def fn(x: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(x.shape))
        return net(x)

    job = tiling.upscale_tiled(fn, _image(rng, 64, 64), 2, 16, overlap=4)
    total = 0
    for event in job:
        if isinstance(event, Progress) and event.step == 1:
            total = event.total
            break
    job.close()
    assert total >= 9  # a pass of many tiles, stopped after its first
    assert len(calls) == 1
