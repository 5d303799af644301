"""Set up a virtual environment for unsr and run the app or the test suite.

Usage (from the project root, with any Python 3.11+):

    python3 packaging/bootstrap.py app     # set up, then open the app on a sample
    python3 packaging/bootstrap.py test    # set up, then run every check and test

The environment lives in ``.venv`` beside pyproject.toml. It is (re)installed
only when pyproject.toml has changed since the last install, so the second run
starts at once. Only the standard library is used here.

``app`` also installs the catalogue's recommended general photo model once
(``unsr models get --recommended``: small, permissive, fast on a CPU), so a
fresh install has a pretrained method; offline it says so in one line and the
app starts without it (the next ``app`` tries again). ``UNSR_NO_DOWNLOAD=1``
skips it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".unsr-installed"
MODEL_STAMP = VENV / ".unsr-recommended-model"
SAMPLE = ROOT / "resources" / "samples" / "coffee.png"


def _sh(*args: str | Path, env: dict[str, str] | None = None) -> int:
    print("+", " ".join(str(a) for a in args), flush=True)
    return subprocess.call([str(a) for a in args], cwd=ROOT, env=env)


def setup() -> None:
    """Create .venv and install unsr with its dev and cluster extras when needed."""
    if sys.version_info < (3, 11):
        sys.exit(f"unsr needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if PY.exists() and STAMP.exists() and STAMP.read_text().strip() == digest:
        return
    if not PY.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    steps = [
        (PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip"),
        # The cluster extra (Ray) too, so the test command runs the Ray tests.
        (PY, "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[dev,cluster]"),
    ]
    for step in steps:
        if _sh(*step) != 0:
            sys.exit("installing unsr's dependencies failed (see above)")
    STAMP.write_text(digest)


def test(extra: list[str]) -> int:
    """Run linters, the type checker, the import contract and the tests."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    checks: list[tuple[str | Path, ...]] = [
        (PY, "-m", "ruff", "check", "."),
        (PY, "-m", "ruff", "format", "--check", "."),
        (PY, "-m", "mypy"),
        (BIN / "lint-imports",),
        (PY, "-m", "pytest", *extra),
    ]
    failed = [" ".join(map(str, c[:3])) for c in checks if _sh(*c, env=env) != 0]
    if failed:
        print("FAILED: " + "; ".join(failed), flush=True)
        return 1
    return 0


def recommended_model() -> None:
    """Install the recommended photo model once; one line whatever happens."""
    if MODEL_STAMP.exists() or os.environ.get("UNSR_NO_DOWNLOAD"):
        return
    print("getting the recommended photo model... ", end="", flush=True)
    cmd = [str(PY), "-m", "engine.cli", "models", "get", "--recommended"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode == 0:
        MODEL_STAMP.write_text(done.stdout)
        print(done.stdout.splitlines()[0] if done.stdout else "done", flush=True)
        return
    problems = [ln for ln in done.stderr.splitlines() if ln.startswith("unsr")]
    reason = problems[-1] if problems else f"exit code {done.returncode}"
    print(f"skipped ({reason}); the app starts without it", flush=True)


def app(extra: list[str]) -> int:
    """Open the window on the bundled sample with the default method."""
    args = extra or ["--load", str(SAMPLE)]
    return _sh(PY, "-m", "unsr_app", *args)


def main() -> int:
    """Entry point: ``app`` or ``test``, then extra arguments passed along."""
    if len(sys.argv) < 2 or sys.argv[1] not in {"app", "test", "setup"}:
        print(__doc__)
        return 2
    setup()
    cmd, extra = sys.argv[1], sys.argv[2:]
    if cmd == "setup":
        return 0
    if cmd == "test":
        return test(extra)
    recommended_model()
    return app(extra)


if __name__ == "__main__":
    sys.exit(main())
