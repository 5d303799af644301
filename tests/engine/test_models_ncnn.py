"""ncnn import: round trips through .param/.bin, and refusals with reasons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine import models, paths
from engine.models import ModelError, ncnn
from engine.models.ncnn_format import NcnnError, parse_param
from tests import model_factory as mf
from tests import ncnn_export as nx


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    models.clear_cache()


def _same_output(
    original: torch.nn.Module, entry: models.Entry, size: int = 20
) -> None:
    x = torch.rand(1, 3, size, size + 3, generator=torch.Generator().manual_seed(5))
    loaded = models.load(entry.path)
    with torch.inference_mode():
        want = original(x)
        got = loaded.descriptor.model(x)
    assert got.shape == want.shape
    assert float((got - want).abs().max()) <= 1e-5


@pytest.mark.parametrize("fp16", [False, True])
def test_compact_round_trip(tmp_path: Path, fp16: bool) -> None:
    net = mf.compact(scale=4, nf=8, nc=3)
    if fp16:
        nx.round_to_fp16(net)
    nx.export_compact(net, tmp_path, "realesr-animevideov3-x4", fp16=fp16)
    (result,) = ncnn.import_folder(tmp_path)
    assert result.error is None and result.entry is not None
    entry = result.entry
    assert entry.id == "model:realesr-animevideov3-x4"
    assert entry.path.parent == paths.models_dir()
    assert entry.path.suffix == ".safetensors"
    assert entry.info is not None
    assert (entry.info.arch_id, entry.info.scale) == ("Compact", 4)
    _same_output(net, entry)


@pytest.mark.parametrize("scale", [2, 4])
def test_rrdb_round_trip(tmp_path: Path, scale: int) -> None:
    net = nx.round_to_fp16(mf.rrdb(scale=scale, nf=16, nb=2, seed=scale))
    nx.export_rrdb(net, tmp_path, f"rrdb-x{scale}", fp16=True)
    entry = ncnn.import_model(tmp_path / f"rrdb-x{scale}.param")
    assert entry.info is not None
    assert (entry.info.arch_id, entry.info.scale) == ("ESRGAN", scale)
    assert "2nb" in entry.info.tags and "16nf" in entry.info.tags
    _same_output(net, entry, size=12)


def test_import_twice_reuses_the_first(tmp_path: Path) -> None:
    nx.export_compact(mf.compact(), tmp_path, "c")
    first = ncnn.import_model(tmp_path / "c.param")
    again = ncnn.import_model(tmp_path / "c.param")
    assert again.path == first.path
    assert len(list(paths.models_dir().glob("*.safetensors"))) == 1


def test_a_graph_that_computes_something_else_is_refused(tmp_path: Path) -> None:
    # Same layers and shapes as an RRDB, but a residual scale of 0.3: matching
    # shapes alone would accept it; the numerical check must not.
    net = mf.rrdb(scale=2, nf=8, nb=1)
    nx.export_rrdb(net, tmp_path, "odd", rdb_residual=0.3)
    with pytest.raises(ModelError, match="does not reproduce"):
        ncnn.convert(tmp_path / "odd.param")
    assert list(paths.models_dir().iterdir()) == []


def _write(folder: Path, name: str, param: str, data: bytes = b"") -> Path:
    (folder / f"{name}.param").write_text(param)
    (folder / f"{name}.bin").write_bytes(data)
    return folder / f"{name}.param"


def test_bad_pairs_are_reported_and_the_folder_goes_on(tmp_path: Path) -> None:
    nx.export_compact(mf.compact(), tmp_path, "good")
    good_bin = (tmp_path / "good.bin").read_bytes()
    good_param = (tmp_path / "good.param").read_text()
    _write(tmp_path, "cut", good_param, good_bin[:-10])
    _write(tmp_path, "extra", good_param, good_bin + b"\0" * 8)
    _write(tmp_path, "magic", "123\n1 1\nInput in 0 1 data\n")
    _write(
        tmp_path,
        "depthwise",
        "7767517\n2 2\nInput in 0 1 data\n"
        "ConvolutionDepthWise d 1 1 data out 0=3 1=3 6=27 7=3\n",
    )
    (tmp_path / "lonely.param").write_text(good_param)
    int8 = good_param.replace("Convolution", "Convolution", 1)
    _write(tmp_path, "int8", int8, (0x000D4B38).to_bytes(4, "little") + good_bin[4:])
    results = {r.param.stem: r for r in ncnn.import_folder(tmp_path)}
    assert results["good"].entry is not None
    reasons = {k: r.error or "" for k, r in results.items() if k != "good"}
    assert "shorter" in reasons["cut"]
    assert "more than" in reasons["extra"]
    assert "7767517" in reasons["magic"]
    assert "ConvolutionDepthWise" in reasons["depthwise"]
    assert "lonely.bin is missing" in reasons["lonely"]
    assert "int8" in reasons["int8"]
    assert [p.name for p in paths.models_dir().iterdir()] == ["good.safetensors"]


def test_unsupported_architecture_names_its_layers(tmp_path: Path) -> None:
    g = nx.Builder()
    conv = torch.nn.Conv2d(3, 3, 3, padding=1)
    g.add("Sigmoid", [g.conv("data", conv)], [])
    g.write(tmp_path / "seg.param", tmp_path / "seg.bin")
    with pytest.raises(ModelError, match=r"not an architecture unsr converts.*Sigmoid"):
        ncnn.convert(tmp_path / "seg.param")


def test_param_arrays_and_counts() -> None:
    layers = parse_param(
        "7767517\n2 2\nInput in 0 1 data\n"
        "Eltwise e 2 1 a b out 0=1 -23301=2,2.000000e-01,1.0\n"
    )
    assert layers[1].params == {0: 1, 1: (0.2, 1.0)}
    with pytest.raises(NcnnError, match="announces 3 layers"):
        parse_param("7767517\n3 2\nInput in 0 1 data\n")


@pytest.mark.parametrize(("factor", "scale"), [(0.5, 2), (0.75, 3)])
def test_compact_with_a_final_resize_imports_at_the_smaller_scale(
    tmp_path: Path, factor: float, scale: int
) -> None:
    # realesr-animevideov3 x2/x3: the x4 net, then a bicubic downscale.
    net = mf.compact(scale=4, nf=8, nc=3)
    nx.export_compact(net, tmp_path, f"anime-x{scale}", resize=(3, factor))
    entry = ncnn.import_model(tmp_path / f"anime-x{scale}.param")
    assert entry.info is not None
    assert (entry.info.arch_id, entry.info.scale) == ("Compact", scale)
    x = torch.rand(1, 3, 20, 23, generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        want = torch.nn.functional.interpolate(
            net(x),
            scale_factor=factor,
            mode="bicubic",
            align_corners=False,
            recompute_scale_factor=False,
        )
        got = models.load(entry.path).descriptor.model(x)
    assert got.shape == (1, 3, 20 * scale, 23 * scale)
    assert float((got - want).abs().max()) <= 1e-5


def test_span_round_trip(tmp_path: Path) -> None:
    net = mf.span(scale=2, nf=8)
    nx.export_span(net, tmp_path, "span-x2")
    entry = ncnn.import_model(tmp_path / "span-x2.param")
    assert entry.info is not None
    assert (entry.info.arch_id, entry.info.scale) == ("SPAN", 2)
    _same_output(net.eval(), entry)


def test_span_with_other_normalisation_constants(tmp_path: Path) -> None:
    # 4xSPANkendata normalises with ImageNet's mean and no 255 factor, which
    # spandrel's SPAN cannot express: the file records the step itself.
    net = mf.span(scale=2, nf=8).eval()
    mean = (0.485, 0.456, 0.406)
    nx.export_span(net, tmp_path, "kendata", mean=mean, img_range=1.0)
    entry = ncnn.import_model(tmp_path / "kendata.param")
    x = torch.rand(1, 3, 16, 19, generator=torch.Generator().manual_seed(2))
    net.no_norm = torch.zeros(1)  # the same weights, fed the graph's input
    with torch.inference_mode():
        want = net(x - torch.tensor(mean).reshape(1, 3, 1, 1))
        got = models.load(entry.path).descriptor.model(x)
    assert float((got - want).abs().max()) <= 1e-4 * max(1.0, float(want.abs().max()))


def _cugan(scale: int) -> torch.nn.Module:
    from spandrel.architectures.RealCUGAN import UpCunet2x, UpCunet3x, UpCunet4x

    cls = {2: UpCunet2x, 3: UpCunet3x, 4: UpCunet4x}[scale]
    return mf._shrink(cls(in_channels=3, out_channels=3), scale, 0.5)


@pytest.mark.parametrize(("scale", "se"), [(2, True), (3, True), (4, True), (2, False)])
def test_realcugan_round_trip(tmp_path: Path, scale: int, se: bool) -> None:
    net = _cugan(scale)
    nx.export_realcugan(net, tmp_path, f"up{scale}x", se=se)
    if not se:  # models-nose: what the graph computes is the net without SE
        with torch.no_grad():
            for name, p in net.named_parameters():
                if ".seblock." in name:
                    p.fill_(100.0 if name.endswith("conv2.bias") else 0.0)
    entry = ncnn.import_model(tmp_path / f"up{scale}x.param")
    assert entry.info is not None
    assert (entry.info.arch_id, entry.info.scale) == ("RealCUGAN", scale)
    _same_output(net, entry, size=36)


def _upscale_with(entry: models.Entry, img: np.ndarray, backend: str):  # type: ignore[no-untyped-def]
    from engine import jobs, pipeline
    from engine.events import Message
    from engine.methods import RunContext
    from engine.methods.pretrained import PretrainedParams, adapter

    loaded = models.load(entry.path)
    ctx = RunContext(device="cpu")
    said: list[Message] = []

    def job():  # type: ignore[no-untyped-def]
        up = yield from adapter(loaded, img, PretrainedParams(backend=backend), ctx)
        return (yield from pipeline.infer(up, img, up.scale, ctx))

    out = jobs.run(job(), lambda e: said.append(e) if isinstance(e, Message) else None)
    return out, said[0].data["backend"]


def test_imported_compact_nets_run_on_the_ncnn_runtime(tmp_path: Path) -> None:
    pytest.importorskip("ncnn", reason="the ncnn package is not installed")
    from engine.models import ncnn_backend

    net = mf.compact(scale=2, nf=8, nc=3)
    nx.export_compact(net, tmp_path, "fast-x2")
    entry = ncnn.import_model(tmp_path / "fast-x2.param")
    assert ncnn_backend.program_of(entry.path) is not None
    img = np.random.default_rng(0).random((30, 37, 3), dtype=np.float32)
    on_ncnn, used = _upscale_with(entry, img, "auto")
    assert used == "ncnn"
    on_torch, used = _upscale_with(entry, img, "torch")
    assert used == "torch"
    assert on_ncnn.shape == on_torch.shape == (60, 74, 3)
    assert float(np.abs(on_ncnn - on_torch).max()) <= 1 / 255
    # Removing the model removes the kept ncnn files with it.
    kept = ncnn_backend.program_of(entry.path)
    assert kept is not None and kept.param.is_file()
    models.remove(entry.id)
    assert not kept.param.exists() and not kept.bin_path.exists()


def test_rrdb_stays_on_torch_and_plain_files_cannot_ask_for_ncnn(
    tmp_path: Path,
) -> None:
    from engine.methods import MethodError

    net = nx.round_to_fp16(mf.rrdb(scale=2, nf=8, nb=1))
    nx.export_rrdb(net, tmp_path, "rrdb-x2", fp16=True)
    entry = ncnn.import_model(tmp_path / "rrdb-x2.param")
    img = np.random.default_rng(1).random((12, 14, 3), dtype=np.float32)
    assert _upscale_with(entry, img, "auto")[1] == "torch"  # measured faster
    plain = models.add(mf.save(mf.compact(), tmp_path / "plain.safetensors"))
    with pytest.raises(MethodError, match="not imported from ncnn files"):
        _upscale_with(plain, img, "ncnn")


def test_models_sharing_a_bin_keep_their_own_graphs(tmp_path: Path) -> None:
    # realesr-animevideov3 x2, x3 and x4 ship the same .bin with different
    # .param files: each import must keep (and run) its own graph.
    from engine.models import ncnn_backend

    net = mf.compact(scale=4, nf=8, nc=2)
    nx.export_compact(net, tmp_path, "anime-x4")
    nx.export_compact(net, tmp_path, "anime-x2", resize=(3, 0.5))
    assert (tmp_path / "anime-x4.bin").read_bytes() == (
        tmp_path / "anime-x2.bin"
    ).read_bytes()
    x2 = ncnn.import_model(tmp_path / "anime-x2.param")
    x4 = ncnn.import_model(tmp_path / "anime-x4.param")
    assert x2.path != x4.path
    assert x2.info is not None and x4.info is not None
    assert (x2.info.scale, x4.info.scale) == (2, 4)
    p2, p4 = ncnn_backend.program_of(x2.path), ncnn_backend.program_of(x4.path)
    assert p2 is not None and p4 is not None
    assert p2.param.read_text() != p4.param.read_text()
    assert (p2.scale, p4.scale) == (2, 4)
