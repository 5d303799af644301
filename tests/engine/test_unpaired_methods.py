"""Trained checkpoints become registry methods with their own inference path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine import paths, pipeline
from engine.events import Event, Progress
from engine.jobs import run
from engine.methods import RunContext, available, get
from engine.train.trainer import RunSpec, load_inference, train
from tests.engine.unpaired_helpers import tiny, tiny_data


@pytest.mark.parametrize("name", ["maeda", "da"])
def test_trained_checkpoint_is_a_method(name: str, photo: np.ndarray) -> None:
    out = paths.models_dir() / f"tiny-{name}.unsr.pt"
    spec = RunSpec(
        name, iterations=2, overrides=tiny(name), info={"trained_on": "tiny fields"}
    )
    run(train(spec, tiny_data(), out))
    (paths.models_dir() / "broken.unsr.pt").write_bytes(b"nope")  # skipped quietly

    method = get(f"trained-tiny-{name}")
    assert method.kind == "trained" and method.scales == (2,)
    assert method.info["trained on"] == "tiny fields"
    assert method.info["inference"] in ("U(G_XY(x))", "G_SR(E(x))")
    assert not any("broken" in m.id for m in available())

    # Small tiles force several of them; the result matches one untiled pass.
    # (A tile below twice the measured overlap is raised to it.)
    ctx = RunContext(device="cpu", tile=24)
    events: list[Event] = []
    result = run(pipeline.upscale(photo, method, 2, ctx=ctx), events.append)
    assert result.rgb.shape == (photo.shape[0] * 2, photo.shape[1] * 2, 3)
    nets, infer, _ = load_inference(out)
    with torch.no_grad():
        x = torch.from_numpy(photo.transpose(2, 0, 1).copy())[None]
        whole = infer(nets, x).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    assert np.abs(result.rgb - whole).max() <= 1 / 255
    tiles = [e for e in events if isinstance(e, Progress) and e.stage != "loading"]
    assert tiles[-1].total > 1  # the image was tiled
