"""Running a sharded run's shards on Ray: one actor per shard, restarted when its worker dies.

The actor is a supervisor: it runs the shard as the same `run.py run --resume SHARD` process
a local sharded run uses, on its node, and streams the process's lines back to the driver.
The process dies with the actor's worker (PDEATHSIG), so a killed worker or a lost node
leaves no writer behind; Ray starts the actor again (on a live node), and the driver asks
it to run the shard again, which resumes from its folder. Every commit is the shard's own
crash-safe resume, so nothing is written twice; the response cache and the journal keep
answers from being paid twice. The run folder must be on storage every node sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from environment.core.shard_run import (
    EXIT_INTERRUPTED,
    LINE_LIMIT,
    ShardLaunch,
    ShardRunner,
    die_with_parent,
    shard_arguments,
    state_of,
)
from environment.errors import UserInputError
from environment.outputs.shard_console import ShardConsole

CONNECT_TIMEOUT_S = 10.0  # a head that does not answer within this is reported, not waited on
MAX_RESTARTS = 5  # a shard whose worker dies this often in one session is given up on
RESTART_POLL_S = 0.5  # how often to ask whether Ray has an actor back


class ShardSupervisor:
    """One shard's actor: runs its process and streams (kind, value) pairs back, where
    kind is "out" or "err" (a line) or "exit" (the status)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.process: asyncio.subprocess.Process | None = None
        if not (Path(directory) / "run.json").is_file():
            raise UserInputError(
                f"{directory} is not visible on this node: a run on several machines needs "
                "its run folder on storage every node mounts at the same path"
            )

    def where(self) -> dict[str, Any]:
        import ray

        return {"pid": os.getpid(), "node": ray.get_runtime_context().get_node_id()[:8]}

    async def run(self, arguments: list[str]) -> AsyncIterator[tuple[str, Any]]:
        process = await asyncio.create_subprocess_exec(
            *arguments,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            limit=LINE_LIMIT,
            preexec_fn=die_with_parent,
        )
        self.process = process
        lines: asyncio.Queue[tuple[str, str] | None] = asyncio.Queue()

        async def pump(stream: asyncio.StreamReader | None, kind: str) -> None:
            assert stream is not None
            while line := await stream.readline():
                await lines.put((kind, line.decode("utf-8", errors="replace").rstrip("\n")))
            await lines.put(None)

        pumps = [
            asyncio.create_task(pump(process.stdout, "out")),
            asyncio.create_task(pump(process.stderr, "err")),
        ]
        open_streams = len(pumps)
        while open_streams:
            item = await lines.get()
            if item is None:
                open_streams -= 1
            else:
                yield item
        yield ("exit", await process.wait())

    async def interrupt(self) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGINT)


_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_SETTINGS_FRAME = 0x4


def check_head(address: str) -> None:
    """A Ray address that does not answer, or answers as something other than Ray's head
    (whose GCS speaks gRPC: HTTP/2), is one clear line within CONNECT_TIMEOUT_S; Ray's own
    client would retry it for minutes."""
    if address in ("local", "auto"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise UserInputError(f"--ray {address}: give HOST:PORT of the head (or 'local')")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S) as probe:
            probe.settimeout(CONNECT_TIMEOUT_S)
            probe.sendall(_HTTP2_PREFACE + bytes(9))  # the preface, then empty SETTINGS
            header = probe.recv(9)
    except OSError as error:
        raise UserInputError(
            f"--ray {address}: no Ray head answers there ({error.strerror or error}); start "
            "one with `ray start --head` or use --ray local"
        ) from None
    if len(header) < 4 or header[3] != _SETTINGS_FRAME:
        raise UserInputError(
            f"--ray {address}: something answers there, but not a Ray head (no gRPC); give "
            "the address `ray start --head` printed (its --port, 6379 by default)"
        )


def start_ray(address: str) -> None:
    """Joins the cluster at `address`, or starts one on this machine ("local"; Ray's files
    go under RAY_TMPDIR when it is set)."""
    try:
        import ray
    except ImportError:
        raise UserInputError(
            "--ray needs Ray: pip install 'modswap[ray]' (make setup installs it)"
        ) from None
    check_head(address)
    options: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": logging.WARNING,
        "configure_logging": True,
    }
    ray.init(address=address, **options)


class RayShards(ShardRunner):
    """The shards of one session as Ray actors."""

    def __init__(
        self,
        command: Sequence[str],
        console: ShardConsole,
        extra: Sequence[str],
        cpus_per_shard: float,
    ) -> None:
        import ray

        super().__init__(command, console, extra)
        self.ray = ray
        self.cpus = cpus_per_shard
        self.actors: dict[int, Any] = {}

    def _actor(self, launch: ShardLaunch) -> Any:
        if launch.index not in self.actors:
            remote = self.ray.remote(ShardSupervisor)
            self.actors[launch.index] = remote.options(
                num_cpus=self.cpus, max_restarts=-1, max_task_retries=0
            ).remote(str(launch.directory))
        return self.actors[launch.index]

    def _stop_all(self) -> None:
        for actor in self.actors.values():
            actor.interrupt.remote()

    async def _one(self, launch: ShardLaunch) -> int:
        unavailable = self.ray.exceptions.ActorUnavailableError  # restarting: wait for it
        lost = self.ray.exceptions.RayActorError  # its worker or node died mid-call
        arguments = shard_arguments(self.command, launch, self.extra)
        actor = self._actor(launch)
        deaths = 0
        while not self.interrupts:
            try:
                where = await actor.where.remote()
            except unavailable:
                await asyncio.sleep(RESTART_POLL_S)  # Ray is starting it again
                continue
            except lost as error:  # it could not be started (its constructor refused)
                deaths += 1
                if self._give_up(launch.index, error, deaths):
                    return 1
                await asyncio.sleep(RESTART_POLL_S)
                continue
            self.console.started(launch.index)
            self.console.message(
                f"shard {launch.index}: on node {where['node']}, worker pid {where['pid']}"
            )
            try:
                async for ref in actor.run.options(num_returns="streaming").remote(arguments):
                    kind, value = await ref
                    if kind == "out":
                        self.console.on_line(launch.index, value)
                    elif kind == "err" and value.strip():
                        self.console.message(f"shard {launch.index}: {value}")
                    elif kind == "exit":
                        self.console.ended(launch.index, state_of(value))
                        return int(value)
            except lost as error:
                deaths += 1
                self.console.ended(launch.index, "worker lost")
                if self._give_up(launch.index, error, deaths):
                    return 1
        return EXIT_INTERRUPTED

    def _give_up(self, index: int, error: BaseException, deaths: int) -> bool:
        """Says what happened to a shard's actor; True once it has died too often."""
        reason = " ".join(str(error).split())[:160]
        if deaths > MAX_RESTARTS:
            self.console.message(
                f"shard {index}: its actor failed {deaths} times ({reason}); giving up on it "
                "this session (its folder resumes as it is)"
            )
            return True
        self.console.message(
            f"shard {index}: its worker died ({reason}); Ray starts it again and it resumes "
            f"from its folder ({deaths} of {MAX_RESTARTS})"
        )
        return False


def stop_ray() -> None:
    try:
        import ray
    except ImportError:
        return  # never started: start_ray said why
    if ray.is_initialized():
        ray.shutdown()
