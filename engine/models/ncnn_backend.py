"""Running an imported ncnn model on the ncnn runtime instead of torch.

On the CPU the ncnn runtime computes Real-ESRGAN's compact net, SPAN and
Real-CUGAN faster than torch does (its Winograd 3x3 convolutions do fewer
multiplications than oneDNN's direct ones: 1.2-1.6x on Real-CUGAN at one and two
threads on a quiet 2-core machine, ``benchmarks/models.py``), while the rebuilt
torch network is as fast for RRDB. So a model imported from
ncnn files keeps them, as ``ncnn-models/<sha256>.param`` and ``.bin`` in the
data folder (the models folder stays the user's), and the pretrained method
runs those
architectures on the ncnn runtime when the ``ncnn`` package is installed (a
dependency of unsr; without it the torch network runs). The results are the same within
float rounding: the import already checked the torch network against the
graph, and the tests check the runtime against both.

The runtime sits behind the same contract as the torch network: a function
from a (1, 3, h, w) tile in [0, 1] to (1, 3, sh, sw), tiled by the pipeline.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import paths
from engine.models.files import normal_permissions

if TYPE_CHECKING:
    import numpy as np
    import torch

#: Architectures measured faster on the ncnn runtime than in torch on the CPU.
FASTER_ON_NCNN = frozenset({"Compact", "SPAN", "RealCUGAN"})
#: The .safetensors metadata key with the program around the graph.
META_KEY = "ncnn_program"
#: The metadata key naming the kept files (a SHA-256 of the .param and .bin).
FILES_KEY = "ncnn_files"


def _kept() -> Path:
    return paths.data_dir() / "ncnn-models"


@dataclass(frozen=True)
class Program:
    """An ncnn graph and what its program does around it.

    Attributes
    ----------
    param, bin_path : Path
        The graph and its weights.
    scale : int
        The model's scale.
    reflect_pad, pad_multiple, nearest_residual
        As :class:`engine.models.ncnn_match.Converted` has them.
    """

    param: Path
    bin_path: Path
    scale: int
    reflect_pad: int = 0
    pad_multiple: int = 1
    nearest_residual: bool = False


def available() -> bool:
    """Whether the ncnn runtime (the ``ncnn`` package) can be imported."""
    try:
        import ncnn  # noqa: F401
    except ImportError:
        return False
    return True


def store(param: Path, bin_path: Path, digest: str) -> None:
    """Keep an imported model's ncnn files under ``digest`` (of both files)."""
    side = _kept()
    side.mkdir(parents=True, exist_ok=True)
    for src, suffix in ((param, ".param"), (bin_path, ".bin")):
        target = side / f"{digest}{suffix}"
        if not target.exists():
            tmp = side / f".{digest}{suffix}.part"
            shutil.copyfile(src, tmp)
            normal_permissions(tmp)
            tmp.replace(target)


def _metadata(path: Path) -> dict[str, str]:
    if path.suffix.lower() != ".safetensors":
        return {}
    try:
        from safetensors import safe_open

        # The numpy framework reads the header without importing torch.
        with safe_open(str(path), framework="numpy") as f:
            return dict(f.metadata() or {})
    except Exception:  # not ours to judge here: the loader reports bad files
        return {}


def program_of(path: Path) -> Program | None:
    """The ncnn program stored for model file ``path``, if it has one."""
    meta = _metadata(path)
    digest, text = meta.get(FILES_KEY), meta.get(META_KEY)
    if not digest or not text:
        return None
    param = _kept() / f"{digest}.param"
    bin_path = param.with_suffix(".bin")
    if not (param.is_file() and bin_path.is_file()):
        return None
    try:
        steps = json.loads(text)
        return Program(
            param,
            bin_path,
            int(steps["scale"]),
            int(steps.get("reflect_pad", 0)),
            int(steps.get("pad_multiple", 1)),
            bool(steps.get("nearest_residual", False)),
        )
    except (ValueError, KeyError, TypeError):
        return None


def forget(path: Path) -> None:
    """Delete the ncnn files kept for ``path`` unless another model uses them."""
    meta = _metadata(path)
    digest = meta.get(FILES_KEY)
    if not digest:
        return
    others = [
        p
        for p in path.parent.glob("*.safetensors")
        if p != path and _metadata(p).get(FILES_KEY) == digest
    ]
    if not others:
        for suffix in (".param", ".bin"):
            (_kept() / f"{digest}{suffix}").unlink(missing_ok=True)


class _Nets:
    """Loaded ncnn nets by file and thread count (the last few)."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._nets: OrderedDict[tuple[str, int], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, program: Program, threads: int) -> Any:
        import ncnn

        key = (str(program.param), threads)
        with self._lock:
            if key in self._nets:
                self._nets.move_to_end(key)
                return self._nets[key]
        net = ncnn.Net()
        net.opt.use_vulkan_compute = False
        net.opt.num_threads = threads
        if net.load_param(str(program.param)) or net.load_model(str(program.bin_path)):
            raise RuntimeError(f"the ncnn runtime cannot load {program.param.name}")
        with self._lock:
            self._nets[key] = net
            while len(self._nets) > self.size:
                self._nets.popitem(last=False)
        return net


_NETS = _Nets()


def _graph(net: Any) -> Callable[[np.ndarray], np.ndarray]:
    """The graph as (C, H, W) float32 -> (C', H', W') float32."""
    import ncnn
    import numpy as np

    in_name, out_name = net.input_names()[0], net.output_names()[0]

    def run(x: np.ndarray) -> np.ndarray:
        # ncnn reads the buffer in place; a clone keeps in-place layers off the
        # caller's array. The extractor and its blobs go before the net does.
        mat = ncnn.Mat(np.ascontiguousarray(x, dtype=np.float32)).clone()
        ex = net.create_extractor()
        ex.input(in_name, mat)
        ret, out = ex.extract(out_name)
        if ret != 0:
            raise RuntimeError(f"the ncnn runtime failed on a tile (code {ret})")
        result = np.array(out, copy=True)
        del out, ex, mat
        return result

    return run


def upscale_fn(
    program: Program, threads: int
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The model on the ncnn runtime: (1, 3, h, w) in [0, 1] -> (1, 3, sh, sw)."""
    import numpy as np
    import torch

    graph = _graph(_NETS.get(program, threads))
    s, pad, m = program.scale, program.reflect_pad, program.pad_multiple

    def fn(x: torch.Tensor) -> torch.Tensor:
        img = x[0].detach().to("cpu", torch.float32).numpy()
        _, h, w = img.shape
        if pad:
            padded = np.pad(
                img, ((0, 0), (pad, pad - h % -m), (pad, pad - w % -m)), "reflect"
            )
            y = graph(padded)[:, : h * s, : w * s]
        else:
            y = graph(img)
        if program.nearest_residual:
            y = y + np.repeat(np.repeat(img, s, axis=1), s, axis=2)
        out = torch.from_numpy(np.ascontiguousarray(y))[None].clamp(0.0, 1.0)
        return out

    return fn


__all__ = [
    "FASTER_ON_NCNN",
    "FILES_KEY",
    "META_KEY",
    "Program",
    "available",
    "forget",
    "program_of",
    "store",
    "upscale_fn",
]
