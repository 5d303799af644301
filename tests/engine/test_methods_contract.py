"""Every registered method honours the method protocol."""

from __future__ import annotations

import numpy as np
import pytest

from engine import jobs, pipeline
from engine.events import Progress
from engine.methods import MethodError, available, get

METHODS = [m.id for m in available()]


@pytest.mark.parametrize("method_id", METHODS)
def test_method_metadata_is_complete(method_id: str) -> None:
    m = get(method_id)
    assert m.id == method_id
    assert m.label and m.description and "\n" not in m.description
    assert m.scales and all(isinstance(s, int) and s >= 1 for s in m.scales)
    assert m.profiles, "a method needs at least one named profile"
    for params in m.profiles.values():
        with pytest.raises(AttributeError):  # frozen dataclass
            params.__setattr__("_probe", 1)


@pytest.mark.parametrize("method_id", ["bicubic", "lanczos"])
def test_interpolators_upscale_with_progress(method_id: str, photo: np.ndarray) -> None:
    events: list[object] = []
    result = jobs.run(pipeline.upscale(photo, get(method_id), 3), events.append)
    assert result.rgb.shape == (photo.shape[0] * 3, photo.shape[1] * 3, 3)
    assert result.rgb.dtype == np.float32
    assert result.rgb.min() >= 0.0 and result.rgb.max() <= 1.0
    # Downscaling the output back must give roughly the input.
    back = result.rgb.reshape(photo.shape[0], 3, photo.shape[1], 3, 3).mean(axis=(1, 3))
    assert np.abs(back - photo).mean() < 0.02
    assert any(isinstance(e, Progress) for e in events)


def test_unknown_method_and_scale_are_refused() -> None:
    with pytest.raises(MethodError, match="unknown method 'nope'"):
        get("nope")
    with pytest.raises(MethodError, match="x9"):
        get("bicubic").check_scale(9)
