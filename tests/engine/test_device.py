from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from engine import device as devices


def test_pick_cpu_and_auto() -> None:
    assert devices.pick("cpu") == torch.device("cpu")
    auto = devices.pick("auto")
    if not torch.cuda.is_available() and not torch.backends.mps.is_available():
        assert auto == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_missing_cuda_is_refused() -> None:
    with pytest.raises(ValueError, match="CUDA"):
        devices.pick("cuda")


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="MPS is present")
def test_missing_mps_is_refused() -> None:
    with pytest.raises(ValueError, match="MPS"):
        devices.pick("mps")


def _draw() -> tuple[float, float, list[float]]:
    return random.random(), float(np.random.rand()), torch.rand(4).tolist()


def test_seed_all_is_deterministic() -> None:
    g1 = devices.seed_all(7)
    first = _draw()
    a = torch.rand(3, generator=g1).tolist()
    g2 = devices.seed_all(7)
    assert _draw() == first
    assert torch.rand(3, generator=g2).tolist() == a
    devices.seed_all(8)
    assert _draw() != first


def test_threads_follow_the_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("UNSR_THREADS", "1")
        assert devices.configure_threads() == 1
        assert torch.get_num_threads() == 1
        monkeypatch.setenv("UNSR_THREADS", "lots")
        assert devices.default_threads() >= 1
        monkeypatch.delenv("UNSR_THREADS")
        cores = devices.physical_cores()
        if cores is not None:
            assert devices.default_threads() <= cores
    finally:
        torch.set_num_threads(before)


def test_the_first_device_choice_applies_unsr_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The CLI and the app choose a device before any torch work: that is
    # where UNSR_THREADS takes effect, unless a caller set a count already.
    before = torch.get_num_threads()
    try:
        monkeypatch.setattr(devices, "_configured", None)
        monkeypatch.setenv("UNSR_THREADS", "1")
        devices.pick("cpu")
        assert torch.get_num_threads() == 1
        devices.configure_threads(2)
        monkeypatch.setenv("UNSR_THREADS", "1")
        devices.pick("cpu")
        assert torch.get_num_threads() == 2  # an explicit count is kept
    finally:
        torch.set_num_threads(before)
        monkeypatch.setattr(devices, "_configured", None)


def test_machine_key_names_the_processor_and_torch() -> None:
    key = devices.machine_key("cpu")
    assert key.startswith("cpu|") and torch.__version__ in key


def _small_sr_net() -> nn.Module:
    """A typical small SR net: convs on top of a nearest-upsampled input."""
    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(3, 16, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(16, 12, 3, padding=1),
                nn.PixelShuffle(2),
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            up = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
            out: torch.Tensor = up + 0.1 * self.body(x)
            return out

    return Net().eval()


def test_bf16_check_measures_the_real_error(rng: np.random.Generator) -> None:
    net = _small_sr_net()
    x = torch.from_numpy(rng.random((1, 3, 24, 24), dtype=np.float32))
    err = devices.bf16_error(net, x)
    if not devices.cpu_bf16_pays():
        assert err == float("inf")
        assert not devices.bf16_ok(net, x)
        return
    with torch.inference_mode():
        ref = net(x).clamp(0, 1)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = net(x).float().clamp(0, 1)
    assert err == pytest.approx(float((low - ref).abs().max()))
    assert err > 0.0
    # The policy: this net is allowed in bf16 only if it stays within a level.
    assert devices.bf16_ok(net, x) == (err <= devices.BF16_TOLERANCE)
    assert not devices.bf16_ok(net, x, tolerance=err / 2)


def test_bf16_refused_without_native_support(
    monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
) -> None:
    monkeypatch.setattr(devices, "cpu_bf16_pays", lambda: False)
    x = torch.from_numpy(rng.random((1, 3, 8, 8), dtype=np.float32))
    assert devices.bf16_error(_small_sr_net(), x) == float("inf")
    assert not devices.bf16_ok(_small_sr_net(), x)


@pytest.mark.parametrize("native", [True, False])
def test_the_fast_dualsr_profile_trains_in_bf16_only_where_the_cpu_has_it(
    monkeypatch: pytest.MonkeyPatch, native: bool
) -> None:
    from engine.methods.dualsr import FAST
    from engine.methods.dualsr.fit import _Nets

    monkeypatch.setattr(devices, "cpu_bf16_pays", lambda: native)
    nets = _Nets(FAST, torch.device("cpu"), 24)
    x = torch.rand(1, 3, 24, 24)
    with nets.amp():
        conv = nets.g_up.body[0](x)
    assert conv.dtype == (torch.bfloat16 if native else torch.float32)
    assert next(nets.g_up.parameters()).dtype == torch.float32  # weights stay fp32


@pytest.mark.parametrize("critic_bf16", [True, False])
def test_the_critic_leaves_the_autocast_when_asked(
    monkeypatch: pytest.MonkeyPatch, critic_bf16: bool
) -> None:
    from engine.methods.dualsr import FAST
    from engine.methods.dualsr.fit import _Nets

    monkeypatch.setattr(devices, "cpu_bf16_pays", lambda: True)
    nets = _Nets(FAST.with_(critic_bf16=critic_bf16), torch.device("cpu"), 24)
    seen: dict[str, list[torch.dtype]] = {"d": [], "g_up": []}

    def record(name: str) -> Callable[..., None]:
        return lambda _m, _i, out: seen[name].append(out.dtype)

    nets.d_dn.head.register_forward_hook(record("d"))
    nets.g_up.body[0].register_forward_hook(record("g_up"))
    x, y = torch.rand(2, 3, 24, 24), torch.rand(2, 3, 48, 48)
    _named, _k, fake_lr = nets.g_step(x, y)
    nets.d_step(x, fake_lr)
    # One critic pass in the G step, two in the D step; G_UP runs twice.
    want = torch.bfloat16 if critic_bf16 else torch.float32
    assert seen["d"] == [want] * 3
    assert seen["g_up"] == [torch.bfloat16] * 2


@pytest.mark.parametrize(
    ("flags", "pays"),
    [
        ("fpu sse avx512f avx512_bf16 amx_bf16 amx_tile amx_int8", True),
        ("fpu sse avx512f avx512_bf16 avx512_vnni", False),  # measured slower
        ("fpu sse avx2", False),
        ("", False),  # no /proc/cpuinfo
    ],
)
def test_bf16_is_used_on_cpus_with_amx_only(
    monkeypatch: pytest.MonkeyPatch, flags: str, pays: bool
) -> None:
    monkeypatch.setattr(devices, "_cpu_flags", lambda: flags)
    assert devices.cpu_bf16_pays() is pays
    with devices.autocast(torch.device("cpu")):
        dtype = torch.nn.Conv2d(3, 4, 3)(torch.rand(1, 3, 8, 8)).dtype
    assert dtype == (torch.bfloat16 if pays else torch.float32)
