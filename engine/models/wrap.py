"""Fixed steps around a spandrel network, recorded in a model file's metadata.

Some ncnn models are a known architecture plus a step spandrel's version of it
does not have: realesr-animevideov3 x2 and x3 are the x4 compact net followed
by a bicubic downscale, and one SPAN model normalises its input with other
constants than spandrel's SPAN hard-codes. Converting them exactly keeps the
spandrel weights as they are and records the extra steps as JSON under the
``unsr_wrap`` key of the .safetensors metadata::

    {"input_mean": [0.485, 0.456, 0.406], "input_scale": 1.0,
     "resize": "bicubic", "resize_factor": 0.5}

The loader wraps the network in :class:`Wrapped` and reports the scale after
the resize. Other programs ignore the key and see the plain network.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

#: The .safetensors metadata key that holds the steps.
META_KEY = "unsr_wrap"
_RESIZE_MODES = ("bicubic", "bilinear", "nearest")


class WrapError(ValueError):
    """The recorded steps are not ones this version of unsr knows."""


class Wrapped(torch.nn.Module):
    """``net`` with an optional input normalisation and output resize."""

    def __init__(self, net: torch.nn.Module, steps: Mapping[str, Any]) -> None:
        super().__init__()
        self.net = net
        mean = steps.get("input_mean")
        self.register_buffer(
            "mean",
            None if mean is None else torch.tensor(mean).reshape(1, -1, 1, 1),
        )
        self.input_scale = float(steps.get("input_scale", 1.0))
        self.resize = steps.get("resize")
        self.factor = float(steps.get("resize_factor", 1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise, run the network, resize; (1, C, h, w) -> (1, C, sh, sw)."""
        mean = self.mean
        if isinstance(mean, torch.Tensor):
            x = (x - mean.to(x.dtype)) * self.input_scale
        y: torch.Tensor = self.net(x)
        if self.resize is None:
            return y
        # Coordinates follow the factor, as ncnn's Interp maps them.
        return F.interpolate(
            y,
            scale_factor=self.factor,
            mode=str(self.resize),
            align_corners=None if self.resize == "nearest" else False,
            recompute_scale_factor=False,
        )


def parse(text: str | None) -> dict[str, Any]:
    """The steps recorded in metadata ``text`` ({} when there are none).

    Raises
    ------
    WrapError
        A key or value this version does not understand (a newer file).
    """
    if not text:
        return {}
    try:
        steps = json.loads(text)
    except ValueError:
        raise WrapError(f"unreadable {META_KEY} metadata") from None
    known = {"input_mean", "input_scale", "resize", "resize_factor"}
    if not isinstance(steps, dict) or set(steps) - known:
        raise WrapError(f"{META_KEY} metadata with steps unsr does not know")
    if steps.get("resize") not in (None, *_RESIZE_MODES):
        raise WrapError(f"unknown resize {steps.get('resize')!r}")
    return steps


def scale_after(scale: int, steps: Mapping[str, Any]) -> int:
    """The network's scale once the recorded resize is applied."""
    if steps.get("resize") is None:
        return scale
    out = scale * float(steps.get("resize_factor", 1.0))
    if abs(out - round(out)) > 1e-6 or round(out) < 1:
        raise WrapError(f"a resize to x{out:g} is not a whole scale")
    return round(out)


def wrap_descriptor(descriptor: Any, steps: Mapping[str, Any]) -> Any:
    """A spandrel descriptor whose model runs the recorded ``steps`` too."""
    if not steps:
        return descriptor
    from spandrel import ImageModelDescriptor

    scale = scale_after(int(descriptor.scale), steps)
    tags = list(descriptor.tags)
    if steps.get("resize") is not None:
        tags.append(f"x{descriptor.scale} net, {steps['resize']} to x{scale}")
    model = Wrapped(descriptor.model, steps)
    return ImageModelDescriptor(
        model,
        model.state_dict(),
        architecture=descriptor.architecture,
        purpose=descriptor.purpose,
        tags=tags,
        supports_half=descriptor.supports_half,
        supports_bfloat16=descriptor.supports_bfloat16,
        scale=scale,
        input_channels=descriptor.input_channels,
        output_channels=descriptor.output_channels,
        size_requirements=descriptor.size_requirements,
        tiling=descriptor.tiling,
    )


__all__ = [
    "META_KEY",
    "WrapError",
    "Wrapped",
    "parse",
    "scale_after",
    "wrap_descriptor",
]
