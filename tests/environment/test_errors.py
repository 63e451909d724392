"""One error tree: each error modswap raises on purpose sits on its branch, and the branch
decides the exit status."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agents.base import GaveUp
from environment.errors import (
    BudgetError,
    ModelError,
    ModswapError,
    RenderError,
    StoreError,
    UserInputError,
)
from environment.models.endpoint import Benched, Stopping
from environment.models.protocol import BudgetExhausted, ModelCallFailed
from tests.conftest import ROOT


def test_each_error_sits_on_its_branch() -> None:
    branches = {
        ModelCallFailed: ModelError,
        Stopping: ModelError,
        Benched: ModelError,
        GaveUp: ModelError,
        BudgetExhausted: BudgetError,
    }
    for error, branch in branches.items():
        assert issubclass(error, branch) and issubclass(branch, ModswapError), error
    assert {
        branch: branch.exit_status
        for branch in (UserInputError, ModelError, BudgetError, StoreError, RenderError)
    } == {UserInputError: 2, ModelError: 1, BudgetError: 3, StoreError: 1, RenderError: 2}


def test_the_command_line_turns_a_branch_into_its_status_and_one_line(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("name: bad\ntarget: {accepted_qa: 1}\nmodels: {}\nagnets: []\n")
    result = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "validate", str(scenario)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == UserInputError.exit_status
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr
