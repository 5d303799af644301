"""Reading model files safely and recognising them with spandrel.

Pickle-based files (.pth, .pt, .ckpt) are read with ``torch.load(...,
weights_only=True)``: only tensors and plain containers are rebuilt, so a file
that carries code (a ``__reduce__`` calling ``os.system``) is refused instead of
run. TorchScript archives are refused too: they are programs, not weights.
The state dict then goes to spandrel, which detects the architecture and its
hyper-parameters.
"""

from __future__ import annotations

import dataclasses
import pickle
import threading
import warnings
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.models import index, sniff
from engine.models.errors import ModelError
from engine.models.info import ModelInfo, Tiling

if TYPE_CHECKING:
    import torch

# torch and spandrel are imported by the functions that read and build
# networks: listing the library from the index needs neither.
#: File types spandrel can read and unsr accepts.
SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors")
#: unsr's own training checkpoints; another provider owns them.
UNSR_SUFFIX = ".unsr.pt"


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A spandrel model descriptor with its :class:`ModelInfo`."""

    info: ModelInfo
    descriptor: Any


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in names)


def _unsafe_global(message: str) -> str | None:
    """Pull the refused global's name out of torch's weights-only error text."""
    for marker in ("Unsupported global: GLOBAL ", "Unsupported operand ", "GLOBAL "):
        start = message.find(marker)
        if start >= 0:
            rest = message[start + len(marker) :].split()
            if rest:
                return rest[0].rstrip(".,:")
    return None


def _read_pickle(path: Path) -> object:
    if _is_torchscript(path):
        raise ModelError(
            path,
            "a TorchScript archive (a program, not weights); unsr only loads "
            "weight files. Re-save the state dict as .pth or .safetensors",
        )
    problem = sniff.pickle_problem(path)
    if problem is not None:
        raise ModelError(path, problem)
    import torch

    try:
        with warnings.catch_warnings():
            # Old pickle protocols make torch warn; the weights-only unpickler
            # still guards them, so the warning says nothing to the user.
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "magic number" in text.lower():
            raise ModelError(
                path,
                sniff.NOT_A_MODEL.format(
                    what="a Python pickle torch.save did not write"
                ),
            ) from None
        name = _unsafe_global(text)
        if name is not None:
            raise ModelError(
                path,
                f"holds Python objects besides weights ({name}); refused because "
                "loading them could run code from the file",
            ) from None
        raise ModelError(
            path,
            "this is not a model file: its pickle data is not weights "
            f"({sniff.first_sentence(text)})",
        ) from None
    except EOFError:
        raise ModelError(
            path, sniff.TRUNCATED.format(what="its pickle data stops early")
        ) from None
    except Exception as exc:  # a damaged file fails in many ways
        if "magic number" in str(exc).lower():
            what = "a Python pickle torch.save did not write"
            raise ModelError(path, sniff.NOT_A_MODEL.format(what=what)) from None
        raise ModelError(
            path,
            "the file is damaged: torch cannot read it "
            f"({sniff.first_sentence(str(exc)) or type(exc).__name__})",
        ) from None


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    problem = sniff.safetensors_problem(path)
    if problem is not None:
        raise ModelError(path, problem)
    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:  # SafetensorError and friends
        raise ModelError(
            path,
            "the file is damaged: safetensors cannot read it "
            f"({sniff.first_sentence(str(exc))})",
        ) from None


def _wrap_steps(path: Path) -> dict[str, Any]:
    """The fixed steps a converted file records around its network ({} if none)."""
    from engine.models import wrap

    if path.suffix.lower() != ".safetensors":
        return {}
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        return wrap.parse(meta.get(wrap.META_KEY))
    except wrap.WrapError as exc:
        raise ModelError(path, f"{exc}; it needs a newer unsr") from None
    except Exception as exc:  # read_state_dict has read it: rare
        raise ModelError(path, f"unreadable metadata ({exc})") from None


def read_state_dict(path: Path | str) -> dict[str, torch.Tensor]:
    """Read the weights of a model file without running any code from it.

    Parameters
    ----------
    path
        A .pth, .pt, .ckpt or .safetensors file.

    Returns
    -------
    dict
        Parameter name to tensor (on the CPU), unwrapped from training
        checkpoints ("params_ema", "state_dict", "module." prefixes ...).

    Raises
    ------
    ModelError
        Empty, truncated, corrupt, TorchScript, code-carrying or foreign files.
    """
    import torch
    from spandrel import canonicalize_state_dict

    path = Path(path)
    if not path.is_file():
        raise ModelError(path, "no such file")
    name = path.name.lower()
    if name.endswith(UNSR_SUFFIX):
        raise ModelError(path, "an unsr training checkpoint, used by its own method")
    if path.suffix.lower() not in SUFFIXES:
        raise ModelError(
            path,
            f"unsupported file type {path.suffix or '(none)'!r}; "
            f"model files end in {', '.join(SUFFIXES)}",
        )
    if path.stat().st_size == 0:
        raise ModelError(path, "the file is empty (0 bytes)")
    raw = (
        _read_safetensors(path)
        if path.suffix.lower() == ".safetensors"
        else _read_pickle(path)
    )
    if not isinstance(raw, dict):
        raise ModelError(
            path, f"holds a {type(raw).__name__}, not a dictionary of weights"
        )
    state = canonicalize_state_dict(raw)
    tensors = {str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise ModelError(path, "holds no weight tensors")
    return tensors


def _tiling_name(tiling: object) -> Tiling:
    name = getattr(tiling, "name", "SUPPORTED").lower()
    if name in ("discouraged", "internal"):
        return name  # type: ignore[return-value]
    return "supported"


def _describe(path: Path, descriptor: Any) -> ModelInfo:
    req = descriptor.size_requirements
    arch = descriptor.architecture
    return ModelInfo(
        path=path,
        architecture=str(arch.name),
        arch_id=str(arch.id),
        purpose=str(descriptor.purpose),
        scale=int(descriptor.scale),
        input_channels=int(descriptor.input_channels),
        output_channels=int(descriptor.output_channels),
        tags=tuple(str(t) for t in descriptor.tags),
        min_size=int(req.minimum),
        multiple_of=int(req.multiple_of),
        square=bool(req.square),
        tiling=_tiling_name(descriptor.tiling),
        supports_half=bool(descriptor.supports_half),
        supports_bfloat16=bool(descriptor.supports_bfloat16),
        parameters=sum(p.numel() for p in descriptor.model.parameters()),
        file_bytes=path.stat().st_size,
    )


def _first_keys(state: dict[str, torch.Tensor], n: int = 3) -> str:
    keys = list(state)[:n]
    more = ", ..." if len(state) > n else ""
    return ", ".join(keys) + more


def load_uncached(path: Path | str) -> LoadedModel:
    """Read ``path`` and build its network on the CPU (no cache).

    Raises
    ------
    ModelError
        The file cannot be read, or spandrel does not know its architecture,
        or the weights do not fit the architecture spandrel detected.
    """
    from spandrel import ModelLoader, UnsupportedModelError

    path = Path(path)
    state = read_state_dict(path)
    try:
        descriptor = ModelLoader(device="cpu").load_from_state_dict(state)
    except UnsupportedModelError:
        raise ModelError(
            path,
            "unknown architecture: spandrel does not recognise these weights "
            f"(keys: {_first_keys(state)})",
        ) from None
    except Exception as exc:  # spandrel raises anything on odd weights
        raise ModelError(
            path,
            "the weights do not fit the architecture they resemble "
            f"({type(exc).__name__}: {str(exc)[:200]})",
        ) from None
    from engine.models import wrap

    steps = _wrap_steps(path)
    try:
        descriptor = wrap.wrap_descriptor(descriptor, steps)
    except wrap.WrapError as exc:
        raise ModelError(path, str(exc)) from None
    descriptor.model.eval()
    for p in descriptor.model.parameters():
        p.requires_grad_(False)
    _fuse_once(descriptor.model)
    return LoadedModel(_describe(path, descriptor), descriptor)


def _fuse_once(model: torch.nn.Module) -> None:
    """Fuse re-parameterised convolutions once instead of on every call.

    SPAN's Conv3XC folds its three training convolutions into ``eval_conv`` at
    every forward in eval mode (about a quarter of a 64 px tile's time); the
    weights never change during inference, so fold once and keep the result.
    """
    import torch

    for module in model.modules():
        update = getattr(module, "update_params", None)
        if callable(update) and isinstance(
            getattr(module, "eval_conv", None), torch.nn.Conv2d
        ):
            update()
            object.__setattr__(module, "update_params", _noop)


def _noop() -> None:
    """Stands in for a re-parameterisation already done."""


def file_key(path: Path) -> tuple[str, int, int]:
    """A file's identity for caches: resolved path, mtime and size.

    Raises
    ------
    OSError
        The file cannot be stat'ed.
    """
    st = path.stat()
    return (str(path.resolve()), st.st_mtime_ns, st.st_size)


class _Cache:
    """A small LRU of loaded networks keyed by file identity (path, mtime, size).

    A batch of images reuses one network instead of reloading it per image;
    editing or replacing the file changes the key, so a stale network is never
    served. Infos are kept for every file seen (they are tiny), networks only
    for the last few.
    """

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._models: OrderedDict[tuple[str, int, int], LoadedModel] = OrderedDict()
        self._infos: dict[tuple[str, int, int], ModelInfo] = {}
        # Bad files are remembered too, so listing a folder does not re-read a
        # corrupt 100 MB file every time the method list is refreshed.
        self._errors: dict[tuple[str, int, int], ModelError] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(path: Path) -> tuple[str, int, int]:
        try:
            return file_key(path)
        except OSError:
            raise ModelError(path, "no such file") from None

    def load(self, path: Path) -> LoadedModel:
        key = self.key(path)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            if key in self._errors:
                raise self._errors[key]
        try:
            loaded = load_uncached(path)
        except ModelError as exc:
            with self._lock:
                self._errors[key] = exc
            index.remember(key, exc.reason)
            raise
        if key not in self._infos:
            index.remember(key, loaded.info)
        with self._lock:
            self._models[key] = loaded
            self._infos[key] = loaded.info
            while len(self._models) > self.size:
                self._models.popitem(last=False)
        return loaded

    def info(self, path: Path) -> ModelInfo:
        key = self.key(path)
        with self._lock:
            if key in self._infos:
                return self._infos[key]
            if key in self._errors:
                raise self._errors[key]
        known = index.lookup(key)
        if isinstance(known, ModelInfo):
            # The index may hold the file under another spelling of its path.
            info = dataclasses.replace(known, path=path)
            with self._lock:
                self._infos[key] = info
            return info
        if isinstance(known, str):
            error = ModelError(path, known)
            with self._lock:
                self._errors[key] = error
            raise error
        return self.load(path).info

    def know(self, path: Path, info: ModelInfo) -> None:
        """Take ``info`` as ``path``'s (a copy of a file just read)."""
        key = self.key(path)
        info = dataclasses.replace(info, path=path)
        index.remember(key, info)
        with self._lock:
            self._infos[key] = info
            self._errors.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._models.clear()
            self._infos.clear()
            self._errors.clear()


_CACHE = _Cache()


def load(path: Path | str) -> LoadedModel:
    """Load ``path`` (cached by path, mtime and size). See :func:`load_uncached`."""
    return _CACHE.load(Path(path))


def describe(path: Path | str) -> ModelInfo:
    """Return the :class:`ModelInfo` of ``path`` (cached). Raises ModelError."""
    return _CACHE.info(Path(path))


def know(path: Path | str, info: ModelInfo) -> None:
    """Remember ``info`` for ``path``, a byte-for-byte copy of the file read.

    Installing a model copies a file that was just read in full; without this
    the copy, a new path, would be read and built again to be listed.
    """
    _CACHE.know(Path(path), info)


def clear_cache() -> None:
    """Forget every loaded network and info (tests; freeing memory).

    The on-disk index stays: it is keyed by mtime and size, so it is never stale.
    """
    _CACHE.clear()
    index.forget_memory()


__all__ = [
    "SUFFIXES",
    "UNSR_SUFFIX",
    "LoadedModel",
    "ModelInfo",
    "clear_cache",
    "describe",
    "file_key",
    "know",
    "load",
    "load_uncached",
    "read_state_dict",
]
