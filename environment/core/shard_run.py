"""Running a sharded run's shards as local processes, with one console over them.

Each shard is `run.py run --resume SHARD_DIR --shard-report`: the same code path as any
resumed run, so a shard that is stopped, killed or run again goes on from its folder. The
shards run in sessions of their own (a terminal's Ctrl-C reaches the driver only), and the
driver passes each Ctrl-C on to every shard: the first asks them to stop once their work
in flight is in, a second to stop at once. A driver killed outright takes its shards with
it, so `--resume` finds no folder still held.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from environment.errors import INTERRUPTED_EXIT_STATUS
from environment.outputs.shard_console import ShardConsole

EXIT_INTERRUPTED = INTERRUPTED_EXIT_STATUS
_PR_SET_PDEATHSIG = 1
LINE_LIMIT = 1 << 24  # a shard's longest stdout line (its figures are far shorter)


@dataclass(frozen=True)
class ShardLaunch:
    index: int
    directory: Path
    target: int | None = None  # a new target for the shard (a top-up round), or its own


def die_with_parent() -> None:
    """In a shard's process, before exec: the kernel kills it when the process that
    started it dies (a driver or a Ray worker killed outright), so no shard goes on
    writing, and holding, its folder unwatched."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def shard_arguments(command: Sequence[str], launch: ShardLaunch, extra: Sequence[str]) -> list[str]:
    """The command line that runs (or goes on with) one shard."""
    arguments = [*command, "run", "--resume", str(launch.directory), "--shard-report", *extra]
    if launch.target is not None:
        arguments += ["--target", str(launch.target)]
    return arguments


def state_of(status: int) -> str:
    return {0: "done", EXIT_INTERRUPTED: "stopped", 3: "budget reached"}.get(
        status, f"ended ({status})"
    )


class ShardRunner:
    """The shards of one session, started and watched (by `_one`, per back-end), with
    Ctrl-C passed on to every shard (by `_stop_all`)."""

    def __init__(self, command: Sequence[str], console: ShardConsole, extra: Sequence[str]):
        self.command = list(command)  # how to start run.py: [python, run.py]
        self.console = console
        self.extra = list(extra)  # flags every shard gets (--no-cache)
        self.interrupts = 0

    async def run(self, launches: Sequence[ShardLaunch]) -> dict[int, int]:
        """Runs the shards to their end; their exit statuses by index."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGINT, self.interrupt)
        try:
            statuses = await asyncio.gather(*(self._one(launch) for launch in launches))
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGINT)
        return {launch.index: status for launch, status in zip(launches, statuses, strict=True)}

    def interrupt(self) -> None:
        self.interrupts += 1
        if self.interrupts == 1:
            self.console.message(
                "stopping every shard: work in flight finishes first; Ctrl-C again to stop at once"
            )
        self._stop_all()

    async def _one(self, launch: ShardLaunch) -> int:
        raise NotImplementedError

    def _stop_all(self) -> None:
        raise NotImplementedError


class ShardProcesses(ShardRunner):
    """The shards as local processes, each in a session of its own."""

    def __init__(self, command: Sequence[str], console: ShardConsole, extra: Sequence[str]):
        super().__init__(command, console, extra)
        self.processes: dict[int, asyncio.subprocess.Process] = {}

    def _stop_all(self) -> None:
        for process in self.processes.values():
            self._signal(process)

    @staticmethod
    def _signal(process: asyncio.subprocess.Process) -> None:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)

    async def _one(self, launch: ShardLaunch) -> int:
        if self.interrupts:
            return EXIT_INTERRUPTED  # stopped before it started: its folder is untouched
        arguments = shard_arguments(self.command, launch, self.extra)
        process = await asyncio.create_subprocess_exec(
            *arguments,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            limit=LINE_LIMIT,
            preexec_fn=die_with_parent,
        )
        self.processes[launch.index] = process
        for _ in range(self.interrupts):  # a Ctrl-C that came while it was starting
            self._signal(process)
        self.console.started(launch.index)
        index = launch.index
        assert process.stdout is not None and process.stderr is not None
        await asyncio.gather(
            _pump(process.stdout, lambda line: self.console.on_line(index, line)),
            _pump(process.stderr, lambda line: self.console.message(f"shard {index}: {line}")),
        )
        status = await process.wait()
        self.console.ended(index, state_of(status))
        return status


async def _pump(stream: asyncio.StreamReader, handle: Callable[[str], None]) -> None:
    while line := await stream.readline():
        text = line.decode("utf-8", errors="replace").rstrip("\n")
        if text.strip():
            handle(text)


def top_up(targets: Sequence[int], shortfall: int) -> list[int]:
    """The shards' new targets when the merge came out `shortfall` short (tables that
    repeated another shard's went): the shortfall shared as the targets were."""
    count = len(targets)
    return [
        target + shortfall // count + (1 if index < shortfall % count else 0)
        for index, target in enumerate(targets)
    ]
