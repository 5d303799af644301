"""unsr checkpoints as methods: the demo's benchmark verdict reaches the user."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from engine.methods.unpaired import method_for

DEMO = Path(__file__).resolve().parents[2] / "resources" / "models"


def test_a_demo_checkpoint_states_its_benchmark_verdict(tmp_path: Path) -> None:
    src = DEMO / "demo-maeda-x2.unsr.pt"
    verdict = json.loads((DEMO / "demo-maeda-x2.json").read_text())["verdict"]
    method = method_for(src)
    assert method is not None and method.info is not None
    assert method.info["benchmark"] == verdict
    assert verdict.rstrip(".") in method.description

    # Without its sidecar (or with a broken one) the method still loads, unlabelled.
    alone = tmp_path / "mine.unsr.pt"
    shutil.copy(src, alone)
    bare = method_for(alone)
    assert bare is not None and bare.info is not None
    assert "benchmark" not in bare.info and "Benchmark" not in bare.description
    (tmp_path / "mine.json").write_text("{not json")
    assert method_for(alone) is not None
