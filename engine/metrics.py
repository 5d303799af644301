"""Image quality figures as super-resolution papers compute them.

PSNR and SSIM follow the convention of the DualSR/RCAN evaluation scripts:
luminance Y from MATLAB's ``rgb2ycbcr`` on the 0..255 scale, ``shave`` pixels
cut from every border (usually the scale factor), peak 255. SSIM is Wang et
al.'s ``ssim_index``: 11x11 Gaussian window with sigma 1.5, K = (0.01, 0.03),
L = 255, "valid" filtering, mean of the map; scikit-image's
``structural_similarity`` with Gaussian weights and population covariance
computes exactly that.

Differences from MATLAB worth knowing: MATLAB reads 8-bit files and rounds Y to
integers; here Y is computed from the float image as given, so the figures
differ from the papers' in the second decimal when inputs are not 8-bit.

LPIPS is optional: it needs ImageNet AlexNet weights, which unsr never
downloads. It is used only when torchvision's ``alexnet-owt-7be5be79.pth`` is
already in the torch hub cache; the reason it is unavailable says how to put
it there.

``noise_sigma`` is a cheap probe of how noisy an image is, for checking what an
unpaired method learnt to remove.
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
from skimage.metrics import structural_similarity

if TYPE_CHECKING:
    import torch

#: MATLAB rgb2ycbcr luminance row for R, G, B in [0, 1] -> Y in [16, 235].
Y_WEIGHTS: Final = (65.481, 128.553, 24.966)
Y_OFFSET: Final = 16.0

#: File name of torchvision's ImageNet AlexNet weights in the hub cache.
ALEXNET_FILE: Final = "alexnet-owt-7be5be79.pth"
#: Where torchvision's publisher serves that file.
ALEXNET_URL: Final = "https://download.pytorch.org/models/" + ALEXNET_FILE
#: All the publisher states of its SHA-256: the start, in the file name.
ALEXNET_HASH_PREFIX: Final = "7be5be79"

Array = npt.NDArray[Any]


def rgb_to_y(rgb: Array) -> npt.NDArray[np.float64]:
    """Return MATLAB ``rgb2ycbcr`` luminance on the 0..255 scale.

    Parameters
    ----------
    rgb
        (H, W, 3) in [0, 1].

    Returns
    -------
    ndarray
        float64 (H, W), 16 + 65.481 R + 128.553 G + 24.966 B.
    """
    a = np.asarray(rgb, dtype=np.float64)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {a.shape}")
    r, g, b = Y_WEIGHTS
    return Y_OFFSET + r * a[..., 0] + g * a[..., 1] + b * a[..., 2]


def _prepare(
    sr: Array, hr: Array, shave: int, y_channel: bool
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Check shapes, crop the border, convert to Y or RGB on 0..255."""
    a, b = np.asarray(sr), np.asarray(hr)
    if a.shape != b.shape:
        raise ValueError(
            f"images must have the same shape to be compared: {a.shape} vs {b.shape}"
        )
    if a.ndim not in (2, 3):
        raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {a.shape}")
    if shave < 0:
        raise ValueError(f"shave must be >= 0, got {shave}")
    h, w = a.shape[:2]
    if 2 * shave >= min(h, w):
        raise ValueError(f"shaving {shave} px from each side of {w}x{h} leaves nothing")
    if shave:
        a, b = a[shave:-shave, shave:-shave], b[shave:-shave, shave:-shave]
    if y_channel and a.ndim == 3:
        return rgb_to_y(a), rgb_to_y(b)
    # A gray (H, W) image is compared as it is, on the same 0..255 scale.
    return a.astype(np.float64) * 255.0, b.astype(np.float64) * 255.0


def psnr(sr: Array, hr: Array, shave: int = 0, y_channel: bool = True) -> float:
    """Peak signal-to-noise ratio in dB, peak 255.

    Parameters
    ----------
    sr, hr
        Images of the same shape, (H, W, 3) or (H, W), values in [0, 1].
    shave
        Pixels cut from each border before comparing (the scale, by convention).
    y_channel
        Compare MATLAB Y (True) or all RGB channels (False).

    Returns
    -------
    float
        ``math.inf`` for identical images.

    Raises
    ------
    ValueError
        If the shapes differ or ``shave`` leaves nothing.
    """
    a, b = _prepare(sr, hr, shave, y_channel)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(255.0**2 / mse)


def ssim(sr: Array, hr: Array, shave: int = 0, y_channel: bool = True) -> float:
    """Structural similarity (Wang et al. 2004) as in ``ssim_index``.

    Parameters
    ----------
    sr, hr
        Images of the same shape, (H, W, 3) or (H, W), values in [0, 1], at
        least 11x11 after shaving.
    shave
        Pixels cut from each border before comparing.
    y_channel
        Compare MATLAB Y (True) or average over RGB channels (False).

    Returns
    -------
    float
        1.0 for identical images.

    Raises
    ------
    ValueError
        If the shapes differ or the image is too small for the 11x11 window.
    """
    a, b = _prepare(sr, hr, shave, y_channel)
    if min(a.shape[:2]) < 11:
        raise ValueError(
            f"SSIM needs at least 11x11 pixels after shaving, got {a.shape[1]}x"
            f"{a.shape[0]}"
        )
    value = structural_similarity(  # type: ignore[no-untyped-call]
        a,
        b,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255.0,
        K1=0.01,
        K2=0.03,
        channel_axis=2 if a.ndim == 3 else None,
    )
    return float(value)


def noise_sigma(img: Array) -> float:
    """Estimate the standard deviation of white noise in ``img``.

    The image is filtered with the 3x3 kernel [[1,-2,1],[-2,4,-2],[1,-2,1]]
    (Immerkaer 1996), which cancels constant, linear and most smooth content;
    white noise of std s gives a residual of std 6 s. The residual's median
    absolute deviation / 0.6745 is a robust std that edges barely move.
    Colour images are measured per channel and the median is returned.

    Parameters
    ----------
    img
        (H, W) or (H, W, C), at least 3x3, any range.

    Returns
    -------
    float
        The noise std in the units of ``img`` (e.g. 8/255 for 8-level noise on
        a [0, 1] image).
    """
    a = np.asarray(img, dtype=np.float64)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or min(a.shape[:2]) < 3:
        raise ValueError(f"noise_sigma needs an image of at least 3x3, got {a.shape}")
    kernel = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])
    h, w = a.shape[:2]
    sigmas = []
    for c in range(a.shape[2]):
        # "valid" correlation by shifted slices: no border guesses.
        residual = sum(
            kernel[i, j] * a[i : h - 2 + i, j : w - 2 + j, c]
            for i in range(3)
            for j in range(3)
        )
        mad = np.median(np.abs(residual - np.median(residual)))
        sigmas.append(mad / 0.6745 / 6.0)
    return float(np.median(sigmas))


def measure(
    sr: Array, hr: Array, shave: int = 0, *, with_lpips: bool = True
) -> dict[str, float]:
    """All the figures for a result against its ground truth, named for the store.

    Returns
    -------
    dict
        ``psnr_y`` and ``ssim_y`` (dB, [0, 1]); ``lpips`` too when asked and
        available. PSNR of identical images is ``inf``.
    """
    out = {"psnr_y": psnr(sr, hr, shave), "ssim_y": ssim(sr, hr, shave)}
    if with_lpips:
        a, b = np.asarray(sr), np.asarray(hr)
        if shave:
            a, b = a[shave:-shave, shave:-shave], b[shave:-shave, shave:-shave]
        value = lpips(a, b)
        if value is not None:
            out["lpips"] = value
    return out


# --- LPIPS -------------------------------------------------------------------


def alexnet_weights_path() -> Path:
    """Where torchvision keeps the ImageNet AlexNet weights (may not exist)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_FILE


def lpips_unavailable_reason() -> str | None:
    """Say why LPIPS cannot be computed, or None when it can."""
    try:
        import lpips as _lpips  # noqa: F401
    except ImportError:
        return "the lpips package is not installed"
    path = alexnet_weights_path()
    if not path.is_file():
        # Not a catalogue entry: the publisher states only a 32-bit prefix of
        # the file's SHA-256, and no registry package carries the file (see
        # docs/models.md). torchvision's own download checks that prefix.
        return (
            f"LPIPS needs torchvision's ImageNet AlexNet weights at {path}; unsr "
            'does not download them: run `python -c "import torchvision; '
            "torchvision.models.alexnet(weights='DEFAULT')\"` once, or save "
            f"{ALEXNET_URL} there (its SHA-256 starts with {ALEXNET_HASH_PREFIX})"
        )
    try:
        _lpips_model(str(path), path.stat().st_mtime_ns)
    except Exception as exc:  # a broken file must not break an evaluation
        return f"the AlexNet weights at {path} could not be loaded: {exc}"
    return None


def lpips_available() -> bool:
    """Return True when LPIPS can run without downloading anything."""
    return lpips_unavailable_reason() is None


@lru_cache(maxsize=1)
def _lpips_model(path: str, mtime_ns: int) -> torch.nn.Module:
    """Build LPIPS-alex with the backbone from ``path`` (mtime keys the cache)."""
    import lpips as _lpips
    import torch

    # Read the file first: a broken one fails before the slow model build.
    state = torch.load(path, map_location="cpu", weights_only=True)
    with warnings.catch_warnings():
        # lpips passes torchvision's deprecated ``pretrained=`` flag.
        warnings.simplefilter("ignore")
        # pnet_rand=True: do not let torchvision fetch the backbone itself;
        # pretrained=True: the linear heads ship inside the lpips package.
        model: torch.nn.Module = _lpips.LPIPS(
            pretrained=True, net="alex", pnet_rand=True, verbose=False
        )
    backbone = model.get_submodule("net")
    wanted = {}
    for key in backbone.state_dict():
        # lpips splits torchvision's ``features`` into slices but keeps the
        # layer indices: "slice2.3.weight" is "features.3.weight".
        source = "features." + key.split(".", 1)[1]
        if source not in state:
            raise ValueError(f"{source} missing from the checkpoint")
        wanted[key] = state[source]
    backbone.load_state_dict(wanted)
    model.eval()
    return model


def lpips(sr: Array, hr: Array) -> float | None:
    """LPIPS distance (AlexNet, v0.1) between two RGB images in [0, 1].

    Returns
    -------
    float or None
        Lower is more alike; None when LPIPS is unavailable (see
        :func:`lpips_unavailable_reason`).

    Raises
    ------
    ValueError
        If the shapes differ or the images are not (H, W, 3).
    """
    a, b = np.asarray(sr), np.asarray(hr)
    if a.shape != b.shape:
        raise ValueError(
            f"images must have the same shape to be compared: {a.shape} vs {b.shape}"
        )
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"LPIPS compares (H, W, 3) RGB images, got shape {a.shape}")
    if not lpips_available():
        return None
    import torch

    path = alexnet_weights_path()
    model = _lpips_model(str(path), path.stat().st_mtime_ns)

    def tensor(x: Array) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        return t.permute(2, 0, 1)[None] * 2.0 - 1.0  # lpips wants [-1, 1]

    with torch.inference_mode():
        value = model(tensor(a), tensor(b))
    return float(value.reshape(-1)[0])


__all__ = [
    "ALEXNET_FILE",
    "ALEXNET_HASH_PREFIX",
    "ALEXNET_URL",
    "Y_OFFSET",
    "Y_WEIGHTS",
    "alexnet_weights_path",
    "lpips",
    "lpips_available",
    "lpips_unavailable_reason",
    "measure",
    "noise_sigma",
    "psnr",
    "rgb_to_y",
    "ssim",
]
