"""The documented multi-process launch, end to end: torchrun, two CPU ranks, gloo."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.train import checkpoint
from tests.engine import loopback
from tests.train_data import unpaired_folders

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Three Python processes start torch (the launcher and two ranks): seconds on a
# quiet machine, a minute or more on a loaded one.
@pytest.mark.timeout(300)
def test_torchrun_trains_estimated_on_two_ranks_in_step(tmp_path: Path) -> None:
    lr, hr = unpaired_folders(tmp_path)
    out = tmp_path / "ddp.unsr.pt"
    cmd = [
        # torchrun's own main and arguments; its store on a loopback socket.
        sys.executable,
        "-m",
        "tests.engine.torchrun_loopback",
        "--nnodes",
        "1",
        "--nproc-per-node",
        "2",
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(_free_port()),
        "-m",
        "tests.engine.torchrun_probe",
        str(tmp_path),
        "estimated",
        "--real-lr",
        str(lr),
        "--hr",
        str(hr),
        "--iterations",
        "3",
        "--device",
        "cpu",
        "-o",
        str(out),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "UNSR_THREADS": "1"}
    env.update(loopback.GLOO_ENV)  # gloo's connections on the loopback only
    done = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for r in ranks:
        assert r["code"] == 0 and r["world"] == 2
        assert r["ddp"] and all(r["ddp"])  # the SR net went through DDP
        if loopback.HAS_PROC:  # the rank's gloo sockets and the agent's store
            assert r["listening"], "each rank and its launcher listen somewhere"
            assert loopback.beyond_loopback(r["listening"]) == []
    # The same weights on both ranks after three steps on different batches.
    assert len(ranks[0]["params"]) == len(ranks[1]["params"]) > 0
    for a, b in zip(ranks[0]["params"], ranks[1]["params"], strict=True):
        assert torch.equal(a, b)
    state = checkpoint.load(out)  # written by rank 0 only, once
    assert state["train"]["step"] == 3 and state["recipe"] == "estimated"
    first = next(iter(state["train"]["nets"]["SR"].values()))
    assert torch.equal(first, ranks[0]["params"][0])
