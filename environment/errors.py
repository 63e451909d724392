"""Every error modswap raises on purpose, in one tree, each branch with the exit status the
command line gives it. A bug is not in this tree: it surfaces as itself.

    ModswapError
    ├── UserInputError      a scenario, flag or file the user gave is wrong     exit 2
    ├── ModelError          a model gave nothing usable (the role goes on)       exit 1
    ├── BudgetError         the budget cap would be crossed                      exit 3
    ├── StoreError          the run folder cannot be written                     exit 1
    └── RenderError         the renderer cannot run here (set-up)                exit 2

LaTeX a renderer refuses is not an error of the run: it goes back to its generator
(renderers.errors.LatexRenderError). The renderer knows nothing of this tree, so its own
set-up error is turned into RenderError where the run meets it.
"""

from __future__ import annotations

# A run stopped by Ctrl-C (everything accepted so far is saved): the shell's 128 + SIGINT.
INTERRUPTED_EXIT_STATUS = 130


class ModswapError(Exception):
    exit_status = 1


class UserInputError(ModswapError):
    """A user's file is wrong. The message is one sentence naming the file, line and fix."""

    exit_status = 2


class ModelError(ModswapError):
    """A model call or its reply failed; the role that asked treats it as unusable output."""


class BudgetError(ModswapError):
    exit_status = 3


class StoreError(ModswapError):
    """The disk refused a write: a machine problem, reported in one line. What is on disk is
    whole (appends are whole lines, files are renamed into place)."""


class RenderError(ModswapError):
    """Chromium or the math assets are missing or will not start."""

    exit_status = 2
