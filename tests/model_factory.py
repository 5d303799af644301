"""Tiny random-weight networks of several spandrel architectures, saved to files.

Weights are seeded and shrunk so outputs stay inside [0, 1] mostly, which keeps
comparisons meaningful (a saturated output would hide differences).
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file


def _shrink(net: torch.nn.Module, seed: int, gain: float) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(
                torch.randn(p.shape, generator=gen) * gain / max(1, p[0].numel()) ** 0.5
            )
    return net.eval()


def rrdb(scale: int = 4, nf: int = 8, nb: int = 1, seed: int = 0) -> torch.nn.Module:
    from spandrel.architectures.ESRGAN import ESRGAN

    return _shrink(ESRGAN(num_filters=nf, num_blocks=nb, scale=scale), seed, 1.0)


def compact(scale: int = 2, nf: int = 8, nc: int = 2, seed: int = 0) -> torch.nn.Module:
    from spandrel.architectures.Compact import Compact

    net = _shrink(Compact(num_feat=nf, num_conv=nc, upscale=scale), seed, 1.0)
    with torch.no_grad():  # PReLU slopes like a trained net's: small, positive
        for m in net.modules():
            if isinstance(m, torch.nn.PReLU):
                m.weight.uniform_(
                    0.0, 0.3, generator=torch.Generator().manual_seed(seed)
                )
    return net


def span(scale: int = 2, nf: int = 8, seed: int = 0) -> torch.nn.Module:
    from spandrel.architectures.SPAN import SPAN

    return _shrink(
        SPAN(num_in_ch=3, num_out_ch=3, feature_channels=nf, upscale=scale), seed, 0.5
    )


def dncnn(seed: int = 0) -> torch.nn.Module:
    from spandrel.architectures.DnCNN import DnCNN

    return _shrink(DnCNN(in_nc=3, out_nc=3, nc=8, nb=5), seed, 1.0)


def save(net: torch.nn.Module, path: Path) -> Path:
    """Save the state dict as .safetensors or as a weights-only .pth."""
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path
