"""Shared fixtures: one real Chromium renderer per test session, small scenarios on disk."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from PIL import Image

from environment.config.persona_book import library_personas
from environment.config.personas import Persona
from renderers.chromium import ChromiumRenderer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def personas() -> dict[str, Persona]:
    return library_personas(ROOT / "agents" / "personas")


@pytest_asyncio.fixture(scope="session")
async def renderer() -> AsyncIterator[ChromiumRenderer]:
    async with ChromiumRenderer(pages=2, scale=2.0) as shared:
        yield shared


def png_image(data: bytes) -> Image.Image:
    """Decodes a PNG; fails the test when it is not one."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def ink_share(image: Image.Image) -> float:
    """Share of pixels that are not near-white: 0 for a blank image."""
    grey = image.convert("L")
    histogram = grey.histogram()
    dark = sum(histogram[:200])
    return dark / (grey.width * grey.height)


SCENARIO = """\
name: tiny
seed: {seed}
target: {{accepted_qa: {target}}}
output: {output}
models:
  sim-careful: {{kind: simulated, skill: 0.95}}
  sim-sloppy: {{kind: simulated, skill: 0.6}}
agents:
  - {{role: inspirer, persona: cartographer, model: sim-careful}}
  - {{role: generator, persona: analyst, model: sim-careful, count: 2}}
  - {{role: questioner, persona: puzzle-setter, model: sim-careful}}
  - {{role: juror, persona: auditor, model: sim-careful}}
  - {{role: juror, persona: skimmer, model: sim-sloppy}}
  - {{role: juror, persona: pedant, model: sim-careful}}
consensus: {{rule: majority, tiebreaker: auditor}}
tables_per_call: 2
qa_per_table: 3
max_inflight: 3
"""


def start_run_and_wait_for_commits(
    scenario: Path,
    run_dir: Path,
    cwd: Path,
    commits: int = 1,
    env: dict[str, str] | None = None,
    extra: tuple[str, ...] = (),
) -> subprocess.Popen[str]:
    """Starts `run.py SCENARIO --quiet [extra]` and returns once `commits` inspirations are
    on disk (read from its own log lines, not from a clock), for a test to interrupt it."""
    arguments = [str(scenario), "--quiet", "--out", str(run_dir), *extra]
    return _start_and_wait_for_commits(arguments, cwd, commits, env)


def start_resume_and_wait_for_commits(
    run_dir: Path, cwd: Path, commits: int = 1
) -> subprocess.Popen[str]:
    """`run.py run --resume RUN_DIR --quiet`, returned once `commits` more are on disk."""
    return _start_and_wait_for_commits(
        ["run", "--resume", str(run_dir), "--quiet"], cwd, commits, None
    )


def _start_and_wait_for_commits(
    arguments: list[str], cwd: Path, commits: int, env: dict[str, str] | None
) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    )
    assert process.stdout is not None
    seen = 0
    for line in process.stdout:
        if "InspirationCommitted" in line:
            seen += 1
            if seen == commits:
                break
    return process


def run_cli(
    *args: str, cwd: Path, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python run.py ARGS` in `cwd`, as a user types it; output captured as text."""
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env=env,
    )


def write_scenario(directory: Path, *, seed: int = 7, target: int = 6) -> Path:
    path = directory / "tiny.yaml"
    path.write_text(SCENARIO.format(seed=seed, target=target, output=directory / "out"))
    return path
