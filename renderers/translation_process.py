"""LaTeX translation in a worker process: a document that loops, recurses or eats memory
costs that process, never the event loop or the run. One request at a time, each under a
deadline; a worker that misses it or dies is killed and replaced."""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from renderers.errors import LatexProblem, LatexRenderError
from renderers.latex_html import translate
from renderers.limits import RenderLimits
from renderers.translation import Translation


def _serve(connection: Connection, memory_mb: int) -> None:
    """The worker's loop: (source, limits, strict) in, a Translation or an error out."""
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        try:
            source, limits, strict = connection.recv()
        except EOFError:
            return
        try:
            reply: Translation | LatexRenderError = translate(source, limits, strict)
        except LatexRenderError as error:
            reply = error
        except MemoryError:
            reply = LatexRenderError(
                LatexProblem(
                    f"translating the document took more than {memory_mb} MB", None, "limit"
                )
            )
        except Exception as error:  # a translator bug: a failed render, never a dead run
            reply = LatexRenderError(
                LatexProblem(
                    f"the translator failed: {type(error).__name__}: {error}"[:300], None, "crash"
                )
            )
        connection.send(reply)


class TranslationProcess:
    """`await translate(source, limits, strict)` as `latex_html.translate`, in a process."""

    def __init__(self, memory_mb: int = 1536) -> None:
        self.memory_mb = memory_mb
        self._context = multiprocessing.get_context("spawn")  # no fork of a threaded parent
        self._process: BaseProcess | None = None
        self._connection: Connection | None = None
        self._lock = asyncio.Lock()
        self.restarts = 0

    def _start(self) -> Connection:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(child, self.memory_mb), daemon=True, name="modswap-translate"
        )
        process.start()
        child.close()
        self._process, self._connection = process, parent
        return parent

    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join()
        if self._connection is not None:
            self._connection.close()
        self._process = self._connection = None

    async def translate(
        self, source: str, limits: RenderLimits, strict: bool, deadline_s: float = 20.0
    ) -> Translation:
        async with self._lock:
            connection = self._connection or self._start()
            loop = asyncio.get_running_loop()
            ready: asyncio.Future[None] = loop.create_future()

            def wake() -> None:
                if not ready.done():
                    ready.set_result(None)

            descriptor = connection.fileno()
            loop.add_reader(descriptor, wake)
            failure: LatexProblem | None = None
            finished = False
            try:
                # A large document fills the pipe: sent from a thread, under the same deadline.
                async with asyncio.timeout(deadline_s):
                    await asyncio.to_thread(connection.send, (source, limits, strict))
                    await ready
                reply = connection.recv()
                finished = True
            except TimeoutError:
                failure = LatexProblem(
                    f"translating the document took longer than {deadline_s:g} s",
                    None,
                    "timeout",
                )
            except (EOFError, OSError):  # the worker died (memory, a signal)
                failure = LatexProblem(
                    "the translator process died on this document", None, "crash"
                )
            finally:
                loop.remove_reader(descriptor)
                if not finished:  # timed out, died, or cancelled: its reply must not linger
                    self._replace()
        if failure is not None:
            raise LatexRenderError(failure)
        if isinstance(reply, LatexRenderError):
            raise reply
        assert isinstance(reply, Translation)
        return reply

    async def warm_up(self) -> None:
        """Starts the worker and loads the translator into it (a spawn and its imports)."""
        await self.translate("x", RenderLimits(), strict=False)

    def _replace(self) -> None:
        self.restarts += 1
        self._kill()  # the next request starts a fresh worker

    def close(self) -> None:
        self._kill()
