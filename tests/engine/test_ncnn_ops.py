"""Each ncnn layer type the interpreter runs, on tiny made-up graphs.

Every layer is checked against an independent PyTorch expression of what the
layer means, and against the ncnn runtime itself when the ``ncnn`` package is
installed (it is not a dependency of unsr; those cases skip with a reason).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.models import ncnn_format as nf
from engine.models import ncnn_ops
from engine.models.ncnn_format import NcnnError
from tests import ncnn_export as nx

Graphs = Callable[[nx.Builder, str], None]


def _x(shape: tuple[int, ...] = (3, 11, 13), seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(1, *shape, generator=gen)


def _run(tmp_path: Path, build: Graphs, x: torch.Tensor) -> tuple[Path, torch.Tensor]:
    g = nx.Builder()
    build(g, "data")
    param = tmp_path / "t.param"
    g.write(param, param.with_suffix(".bin"))
    graph = nf.load(param, param.with_suffix(".bin"), ncnn_ops.KNOWN)
    with torch.inference_mode():
        return param, ncnn_ops.forward(graph, x)


def _runtime(param: Path, x: torch.Tensor) -> np.ndarray:
    """The ncnn runtime's output for ``x`` (skips without the ncnn package)."""
    ncnn = pytest.importorskip("ncnn", reason="the ncnn package is not installed")
    graph = nf.load(param, param.with_suffix(".bin"), ncnn_ops.KNOWN)
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = 1
    net.load_param(str(param))
    net.load_model(str(param.with_suffix(".bin")))
    # ncnn reads the numpy buffer in place; a clone keeps in-place layers off it.
    mat = ncnn.Mat(np.ascontiguousarray(x[0].numpy())).clone()
    ex = net.create_extractor()
    ex.input("data", mat)
    _, out = ex.extract(graph.output)
    result = np.array(out, copy=True)
    del out, ex, mat, net  # this order: blobs before the net that owns them
    return result


def _check(
    tmp_path: Path,
    build: Graphs,
    want: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor | None = None,
    atol: float = 1e-5,
) -> Path:
    x = _x() if x is None else x
    param, got = _run(tmp_path, build, x)
    expected = want(x)
    assert got.shape == expected.shape
    assert float((got - expected).abs().max()) <= atol
    return param


def _against_runtime(param: Path, x: torch.Tensor, atol: float = 1e-4) -> None:
    # ncnn evaluates exp and friends with fast approximations (~1e-5 off).

    graph = nf.load(param, param.with_suffix(".bin"), ncnn_ops.KNOWN)
    with torch.inference_mode():
        mine = ncnn_ops.forward(graph, x)[0].numpy()
    theirs = _runtime(param, x)
    assert theirs.size == mine.size
    assert float(np.abs(theirs - mine.reshape(theirs.shape)).max()) <= atol


@pytest.mark.parametrize(
    ("k", "stride", "pad", "out_pad"), [(2, 2, 0, 0), (4, 2, 3, 0), (5, 3, 2, 0)]
)
def test_deconvolution(
    tmp_path: Path, k: int, stride: int, pad: int, out_pad: int
) -> None:
    torch.manual_seed(0)
    module = torch.nn.ConvTranspose2d(3, 4, k, stride, pad, out_pad).eval()
    # ncnn stores (out, in, kh, kw); PyTorch's transposed weight is (in, out, ...).
    w = module.weight.detach().transpose(0, 1).contiguous().numpy()
    b = module.bias.detach().numpy()

    def build(g: nx.Builder, x: str) -> None:
        params = ["0=4", f"1={k}", f"3={stride}", f"4={pad}", "5=1", f"6={w.size}"]
        params += ["9=2", "-23310=1,1.000000e-01"]  # a fused LeakyReLU
        g.add("Deconvolution", [x], params, [(w.ravel(), True), (b, False)])

    param = _check(tmp_path, build, lambda t: F.leaky_relu(module(t), 0.1).detach())
    _against_runtime(param, _x())


def test_squeeze_and_excitation(tmp_path: Path) -> None:
    """Global average pooling, two InnerProducts, a per-channel product."""
    rng = np.random.default_rng(1)
    w1, b1 = rng.normal(size=(2, 3)).astype(np.float32), rng.normal(size=2)
    w2, b2 = rng.normal(size=(3, 2)).astype(np.float32), rng.normal(size=3)
    b1, b2 = b1.astype(np.float32), b2.astype(np.float32)

    def build(g: nx.Builder, x: str) -> None:
        pooled = g.add("Pooling", [x], ["0=1", "4=1"])
        h = g.add(
            "InnerProduct",
            [pooled],
            ["0=2", "1=1", "2=6", "9=1"],
            [(w1, True), (b1, False)],
        )
        s = g.add(
            "InnerProduct", [h], ["0=3", "1=1", "2=6", "9=4"], [(w2, True), (b2, False)]
        )
        g.add("BinaryOp", [x, s], ["0=2"])

    def want(t: torch.Tensor) -> torch.Tensor:
        mean = t.mean(dim=(2, 3))
        h = F.relu(mean @ torch.from_numpy(w1).T + torch.from_numpy(b1))
        s = torch.sigmoid(h @ torch.from_numpy(w2).T + torch.from_numpy(b2))
        return t * s[:, :, None, None]

    param = _check(tmp_path, build, want)
    _against_runtime(param, _x())


@pytest.mark.parametrize(
    ("params", "want"),
    [
        (["0=0", "4=1"], lambda t: t.amax(dim=(2, 3), keepdim=True)),
        (["0=1", "4=1"], lambda t: t.mean(dim=(2, 3), keepdim=True)),
        (["0=0", "1=2", "2=2", "5=1"], lambda t: F.max_pool2d(t, 2, 2)),
        (["0=1", "1=3", "2=2", "5=1"], lambda t: F.avg_pool2d(t, 3, 2)),
    ],
)
def test_pooling(
    tmp_path: Path, params: list[str], want: Callable[[torch.Tensor], torch.Tensor]
) -> None:
    param = _check(tmp_path, lambda g, x: g.add("Pooling", [x], params) and None, want)
    _against_runtime(param, _x())


def test_padded_pooling_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NcnnError, match="padded pooling"):
        _run(
            tmp_path,
            lambda g, x: g.add("Pooling", [x], ["0=0", "1=2", "3=1"]) and None,
            _x(),
        )


@pytest.mark.parametrize(
    ("params", "want"),
    [
        (
            ["-23309=2,4,4", "-23310=2,-4,-4", "-23311=2,-2,-1"],
            lambda t: t[..., 4:-4, 4:-4],
        ),
        (["-23309=1,2", "-23310=1,-1", "-23311=1,-1"], lambda t: t[..., 2:-1]),
        (["0=1", "1=2", "3=5", "4=6", "5=3"], lambda t: t[..., 2:8, 1:6]),
    ],
)
def test_crop(
    tmp_path: Path, params: list[str], want: Callable[[torch.Tensor], torch.Tensor]
) -> None:
    param = _check(tmp_path, lambda g, x: g.add("Crop", [x], params) and None, want)
    _against_runtime(param, _x())


@pytest.mark.parametrize(
    ("kind", "params", "want"),
    [
        ("Swish", [], F.silu),
        ("Sigmoid", [], torch.sigmoid),
        ("TanH", [], torch.tanh),
        ("Mish", [], F.mish),
        ("Clip", ["0=-5.0e-01", "1=7.0e-01"], lambda t: t.clamp(-0.5, 0.7)),
        ("HardSigmoid", [], lambda t: (t * 0.2 + 0.5).clamp(0, 1)),
        ("HardSwish", [], lambda t: t * (t * 0.2 + 0.5).clamp(0, 1)),
        ("ELU", ["0=5.0e-01"], lambda t: F.elu(t, 0.5)),
    ],
)
def test_activations(
    tmp_path: Path,
    kind: str,
    params: list[str],
    want: Callable[[torch.Tensor], torch.Tensor],
) -> None:
    x = _x() * 6 - 3
    param = _check(tmp_path, lambda g, b: g.add(kind, [b], params) and None, want, x)
    _against_runtime(param, x)


@pytest.mark.parametrize(
    ("code", "mode"), [(0, "constant"), (1, "replicate"), (2, "reflect")]
)
def test_padding(tmp_path: Path, code: int, mode: str) -> None:
    params = ["0=1", "1=2", "2=3", "3=1", f"4={code}"]

    def want(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t, (3, 1, 1, 2), mode=mode)

    param = _check(tmp_path, lambda g, x: g.add("Padding", [x], params) and None, want)
    _against_runtime(param, _x())


def test_interp_downscale_maps_coordinates_by_the_factor(tmp_path: Path) -> None:
    # Sampling by the factor (x2 apart, from 0.5) and not by the size ratio
    # (11 / 5 = 2.2 apart) is what ncnn does when the size rounds down.
    ramp = (
        torch.arange(11, dtype=torch.float32).reshape(1, 1, 1, 11).expand(1, 3, 4, 11)
    )
    params = ["0=2", "1=5.000000e-01", "2=5.000000e-01"]
    param, got = _run(
        tmp_path, lambda g, x: g.add("Interp", [x], params) and None, ramp
    )
    assert got.shape == (1, 3, 2, 5)
    assert got[0, 0, 0].tolist() == pytest.approx([0.5, 2.5, 4.5, 6.5, 8.5])
    _against_runtime(param, _x())


@pytest.mark.parametrize(
    "params",
    [
        ["0=3", "1=5.000000e-01", "2=5.000000e-01"],
        ["0=3", "1=7.500000e-01", "2=7.500000e-01"],
        ["0=3", "1=2.000000e+00", "2=2.000000e+00"],
        ["0=2", "1=2.000000e+00", "2=2.000000e+00", "6=1"],
        ["0=1", "1=4.000000e+00", "2=4.000000e+00"],
    ],
)
def test_interp_against_the_runtime(tmp_path: Path, params: list[str]) -> None:
    param, _ = _run(tmp_path, lambda g, x: g.add("Interp", [x], params) and None, _x())
    _against_runtime(param, _x())


def test_memory_data_broadcasts_per_channel(tmp_path: Path) -> None:
    mean = np.array([0.1, 0.2, 0.3], np.float32)

    def build(g: nx.Builder, x: str) -> None:
        m = g.add("MemoryData", [], ["0=1", "1=1", "2=3"], [(mean, False)])
        sub = g.add("BinaryOp", [x, m], ["0=1"])
        g.add("BinaryOp", [sub], ["0=7", "1=1", "2=2.550000e+02"])  # 255 - v

    param = _check(
        tmp_path,
        build,
        lambda t: 255.0 - (t - torch.from_numpy(mean)[None, :, None, None]),
    )
    _against_runtime(param, _x(), atol=1e-4)


def test_an_unknown_layer_type_is_named_before_weights_are_read(tmp_path: Path) -> None:
    param = tmp_path / "dw.param"
    param.write_text(
        "7767517\n2 2\nInput in 0 1 data\n"
        "ConvolutionDepthWise dw1 1 1 data out 0=3 1=3 6=27 7=3\n"
    )
    param.with_suffix(".bin").write_bytes(b"\0" * 8)
    with pytest.raises(NcnnError, match="dw1 has type ConvolutionDepthWise"):
        nf.load(param, param.with_suffix(".bin"), ncnn_ops.KNOWN)
