"""Did training help? A no-reference comparison with bicubic on a real photo.

A user who trains for their camera has no ground truth, so PSNR cannot say
whether the new model beats what they had. What can be measured on a real
photo alone is what the unpaired methods are for and where they fail:

- the noise floor of flat areas (sky, walls): the high band's robust spread
  where the photo has no content; an SR net trained on clean pairs sharpens a
  camera's noise and JPEG blocks there, one that learnt the camera removes them;
- the sharpness of edges: the gradient's root mean square where the photo's
  strongest edges are; bicubic upscaling is soft there;
- a colour shift: how far the model's low band (colour, brightness) moved from
  bicubic's, which a translator that tints (docs/benchmarks.md) shows.

Flat and edge areas are found on the photo itself, blurred first so that its
noise does not decide them, and both results are measured on the same pixels.
Everything is relative to bicubic on the same crop, so the photo's content
cancels out. It cannot see every error (a wrong texture, a ringing halo), and
the verdict says which way each figure went, not that the model is right.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import torch
import torch.nn.functional as F

from engine.nets.discriminators import HighPass

Outcome = Literal["better", "worse", "mixed", "no clear difference"]

#: Relative changes inside these bands count as no change (one photo, one crop).
NOISE_BAND, SHARP_BAND = 0.10, 0.05
#: A mean low-band change above this (8-bit levels) counts as a colour shift.
COLOUR_LEVELS = 2.0
_LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class NoRefCheck:
    """The figures of one comparison and its verdict.

    Noise and colour figures are in 8-bit levels; sharpness in 8-bit levels
    per output pixel.

    Attributes
    ----------
    photo : str
        The photo's file name.
    held_back : bool
        The photo was kept out of training (otherwise it was trained on).
    size : tuple of int
        Width and height of the LR crop measured.
    model_flat_noise, bicubic_flat_noise : float
        Noise floor of the flat areas in each result.
    model_edge_sharpness, bicubic_edge_sharpness : float
        Root mean square gradient on the edges in each result.
    colour_shift : float
        Mean absolute difference of the two results' low bands.
    outcome : str
        "better", "worse", "mixed" or "no clear difference".
    verdict : str
        One or two plain sentences for the user.
    """

    photo: str
    held_back: bool
    size: tuple[int, int]
    model_flat_noise: float
    bicubic_flat_noise: float
    model_edge_sharpness: float
    bicubic_edge_sharpness: float
    colour_shift: float
    outcome: Outcome
    verdict: str

    @property
    def noise_change(self) -> float:
        """Relative change of the flat-area noise floor (-0.3: 30 % less)."""
        return self.model_flat_noise / max(self.bicubic_flat_noise, 1e-3) - 1

    @property
    def sharpness_change(self) -> float:
        """Relative change of the edge sharpness (+0.1: 10 % sharper)."""
        return self.model_edge_sharpness / max(self.bicubic_edge_sharpness, 1e-3) - 1

    def figures(self) -> str:
        """The figures in one line, for the log."""
        return (
            f"flat-area noise {self.model_flat_noise:.2f} (bicubic "
            f"{self.bicubic_flat_noise:.2f}), edge sharpness "
            f"{self.model_edge_sharpness:.2f} (bicubic "
            f"{self.bicubic_edge_sharpness:.2f}), colour shift "
            f"{self.colour_shift:.2f} levels"
        )

    def as_info(self) -> dict[str, str]:
        """The comparison as a checkpoint's ``info`` entries (plain strings)."""
        return {
            "check_photo": self.photo,
            "check_held_back": "yes" if self.held_back else "no",
            "check_size": f"{self.size[0]}x{self.size[1]}",
            "check_flat_noise": f"{self.model_flat_noise:.3f}",
            "check_flat_noise_bicubic": f"{self.bicubic_flat_noise:.3f}",
            "check_edge_sharpness": f"{self.model_edge_sharpness:.3f}",
            "check_edge_sharpness_bicubic": f"{self.bicubic_edge_sharpness:.3f}",
            "check_colour_shift": f"{self.colour_shift:.3f}",
            "check_outcome": self.outcome,
            "check_verdict": self.verdict,
        }


@lru_cache(maxsize=8)
def _highpass(sigma: float) -> HighPass:
    return HighPass(sigma)


def _low(t: torch.Tensor, sigma: float) -> torch.Tensor:
    high: torch.Tensor = _highpass(sigma)(t)
    return t - high


def _luma(rgb: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(_LUMA, dtype=rgb.dtype).view(1, 3, 1, 1)
    return (rgb * w).sum(1, keepdim=True)


def _gradient(y: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude of (1, 1, H, W), replicate-padded."""
    k = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]) / 8
    k = k.to(y.dtype)
    p = F.pad(y, (1, 1, 1, 1), mode="replicate")
    gx = F.conv2d(p, k.view(1, 1, 3, 3))
    gy = F.conv2d(p, k.t().reshape(1, 1, 3, 3))
    return torch.sqrt(gx**2 + gy**2)


def areas(
    lr: torch.Tensor, flat_share: float = 0.2, edge_share: float = 0.1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean masks (H, W) of the flattest and the most edged parts of ``lr``.

    ``lr`` is (1, 3, H, W). The luma is blurred (sigma 1 px) so that noise does
    not decide; flat = the ``flat_share`` of pixels with the lowest local (5x5)
    spread, edges = the ``edge_share`` with the strongest gradient.
    """
    y = _low(_luma(lr), 1.0)
    mean = F.avg_pool2d(F.pad(y, (2, 2, 2, 2), mode="replicate"), 5, 1)
    sq = F.avg_pool2d(F.pad(y * y, (2, 2, 2, 2), mode="replicate"), 5, 1)
    spread = (sq - mean * mean).clamp_min(0).sqrt()[0, 0]
    grad = _gradient(y)[0, 0]
    flat = spread <= torch.quantile(spread.flatten(), flat_share)
    edge = grad >= torch.quantile(grad.flatten(), 1 - edge_share)
    return flat, edge


def _measure(
    img: torch.Tensor, flat: torch.Tensor, edge: torch.Tensor, scale: int
) -> tuple[float, float]:
    """(flat-area noise floor, edge sharpness) of an upscaled (1, 3, H, W)."""
    y = _luma(img)
    band = (y - _low(y, float(scale)))[0, 0][flat]
    noise = 1.4826 * (band - band.median()).abs().median()
    # The root mean square, not the mean: a blurred edge spreads the same total
    # change over more pixels, so it has the same mean gradient but less energy.
    sharp = _gradient(y)[0, 0][edge].square().mean().sqrt()
    return 255 * float(noise), 255 * float(sharp)


def _crop(lr: torch.Tensor, size: int) -> torch.Tensor:
    """The centre of (3, H, W), at most ``size`` px a side, sides multiples of 4."""
    _, h, w = lr.shape
    ch, cw = min(h, size) // 4 * 4, min(w, size) // 4 * 4
    i, j = (h - ch) // 2, (w - cw) // 2
    return lr[None, :, i : i + ch, j : j + cw].float()


def _judge(noise: float, sharp: float, colour: float) -> tuple[Outcome, list[str]]:
    """The outcome and a clause per figure."""
    good, bad, clauses = 0, 0, []
    if noise <= -NOISE_BAND:
        good += 1
        clauses.append(f"flat areas {-noise:.0%} less noisy")
    elif noise >= NOISE_BAND:
        bad += 1
        clauses.append(f"flat areas {noise:.0%} noisier")
    else:
        clauses.append("flat areas as noisy")
    if sharp >= SHARP_BAND:
        good += 1
        clauses.append(f"edges {sharp:.0%} sharper")
    elif sharp <= -SHARP_BAND:
        bad += 1
        clauses.append(f"edges {-sharp:.0%} softer")
    else:
        clauses.append("edges as sharp")
    if colour > COLOUR_LEVELS:
        bad += 1
        clauses.append(f"colours shifted by {colour:.1f} levels")
    else:
        clauses.append("colours kept")
    outcome: Outcome
    if good and bad:
        outcome = "mixed"
    elif good:
        outcome = "better"
    elif bad:
        outcome = "worse"
    else:
        outcome = "no clear difference"
    return outcome, clauses


_CONCLUSION: dict[Outcome, str] = {
    "better": "the new model looks better than bicubic upscaling.",
    "worse": "the new model looks worse than bicubic upscaling; for these photos "
    "bicubic may serve better.",
    "mixed": "a trade-off, not a clear gain: compare the two before using it.",
    "no clear difference": "no clear difference from bicubic upscaling.",
}


def compare_with_bicubic(
    upscale: Callable[[torch.Tensor], torch.Tensor],
    lr: torch.Tensor,
    scale: int,
    photo: str,
    held_back: bool,
    size: int = 192,
) -> NoRefCheck:
    """Upscale a real photo with a model and with bicubic, and compare the two.

    Parameters
    ----------
    upscale
        The model: (1, 3, h, w) in [0, 1] -> (1, 3, s*h, s*w); called once,
        under ``torch.no_grad``.
    lr
        The real photo, (3, H, W) in [0, 1]; its centre crop of at most
        ``size`` px a side is measured (a second or so on a CPU).
    scale
        The model's factor.
    photo, held_back
        The photo's name, and whether it was kept out of training; both go
        into the verdict.
    size
        Largest crop side, in LR pixels.
    """
    x = _crop(lr, size)
    if min(x.shape[2:]) < 16:
        raise ValueError(
            f"{photo}: too small for a comparison ({lr.shape[2]}x{lr.shape[1]})"
        )
    with torch.no_grad():
        sr = upscale(x).float().cpu().clamp(0, 1)
        bic = F.interpolate(
            x, scale_factor=scale, mode="bicubic", align_corners=False
        ).clamp(0, 1)
    if sr.shape != bic.shape:
        raise ValueError(f"the model made {tuple(sr.shape)}, not {tuple(bic.shape)}")
    flat, edge = (
        m.repeat_interleave(scale, 0).repeat_interleave(scale, 1) for m in areas(x)
    )
    # Borders: the nets' zero padding and the resize's edge handling differ.
    b = 4 * scale
    inner = torch.zeros_like(flat)
    inner[b:-b, b:-b] = True
    flat, edge = flat & inner, edge & inner
    m_noise, m_sharp = _measure(sr, flat, edge, scale)
    b_noise, b_sharp = _measure(bic, flat, edge, scale)
    low = (_low(sr, 2.0 * scale) - _low(bic, 2.0 * scale))[..., b:-b, b:-b]
    colour = 255 * float(low.abs().mean())
    noise_change = m_noise / max(b_noise, 1e-3) - 1
    sharp_change = m_sharp / max(b_sharp, 1e-3) - 1
    outcome, clauses = _judge(noise_change, sharp_change, colour)
    where = "held back from training" if held_back else "one of the training photos"
    verdict = (
        f"Against bicubic upscaling on {photo} ({where}): {', '.join(clauses)}; "
        + _CONCLUSION[outcome]
    )
    return NoRefCheck(
        photo=photo,
        held_back=held_back,
        size=(int(x.shape[3]), int(x.shape[2])),
        model_flat_noise=m_noise,
        bicubic_flat_noise=b_noise,
        model_edge_sharpness=m_sharp,
        bicubic_edge_sharpness=b_sharp,
        colour_shift=colour,
        outcome=outcome,
        verdict=verdict,
    )


__all__ = ["NoRefCheck", "Outcome", "areas", "compare_with_bicubic"]
