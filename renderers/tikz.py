"""TikZ pictures → SVG, offline, through node-tikzjax (TeX in WebAssembly) in a node process.

The engine starts on the first picture (about a second) and then takes ~0.1 s a picture;
pictures sent at once run side by side, each in a TeX thread of its own.
Its output is untrusted like the LaTeX it came from, so it passes `sanitize_svg` first.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
import shutil
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from renderers.errors import RendererUnavailable
from renderers.svg_sanitize import sanitize_svg

ASSETS = Path(__file__).resolve().parent / "assets" / "tikzjax"
_COMPAT = re.compile(r"compat\s*=\s*[0-9.]+")
PACKAGE = ASSETS / "node_modules" / "node-tikzjax"
UNPACKED = ASSETS / "unpacked"  # set-up's copy of the engine's files, ready to read
WORKER = Path(__file__).resolve().parent / "tikz_worker.mjs"

# The engine's LaTeX sends text symbols to the TS1 (text companion) fonts, which it lacks: a
# picture with `\$`, `\textdegree` or `\pm` in a label failed whole. These draw each symbol
# from the Computer Modern fonts it has, as plain TeX did. One line: picture line numbers
# shift by exactly one. A document's own definitions come after and win; the names packages
# define (gensymb, amssymb) are provided at \begin{document}, so a `\newcommand` of them holds.
PICTURE_SYMBOLS = "".join(
    (
        r"\def\textdollar{\ensuremath{\mathdollar}}",
        r"\def\textdegree{\ensuremath{^\circ}}\def\textcelsius{\textdegree C}",
        r"\def\textbullet{\ensuremath{\bullet}}",
        r"\def\textmu{\ensuremath{\mu}}",
        r"\def\textpm{\ensuremath{\pm}}\def\texttimes{\ensuremath{\times}}",
        r"\def\textdiv{\ensuremath{\div}}\def\textminus{\ensuremath{-}}",
        r"\def\textohm{\ensuremath{\Omega}}",
        r"\def\S{\ensuremath{\mathsection}}\def\P{\ensuremath{\mathparagraph}}",
        r"\def\dag{\ensuremath{\dagger}}\def\ddag{\ensuremath{\ddagger}}",
        r"\def\pounds{{\itshape\char36}}\def\texteuro{EUR}",
        r"\def\textperthousand{\%\kern-.05em\raisebox{-.2ex}{\scriptsize 0}}",
        r"\def\textquotedbl{\char34 }",
        r"\def\textcircled#1{{\ooalign{\hfil\raise.07ex\hbox{\scriptsize#1}\hfil\crcr",
        r"\ensuremath{\bigcirc}}}}\def\copyright{\textcircled{c}}",
        r"\def\textregistered{\textsuperscript{\textcircled{R}}}",
        r"\def\texttrademark{\textsuperscript{TM}}",
        r"\AtBeginDocument{\providecommand\degree{\textdegree}",
        r"\providecommand\celsius{\textcelsius}\providecommand\micro{\textmu}",
        r"\providecommand\ohm{\textohm}\providecommand\checkmark{\ensuremath{\surd}}}",
    )
)


@dataclass(frozen=True)
class TikzFailure:
    """TeX reported an error. Like pdflatex in nonstop mode it went on, so `svg` holds what
    it drew anyway (sanitized), or None when it made no picture."""

    message: str
    line: int | None  # within the picture's own source, 1 = \begin{tikzpicture}
    svg: str | None = None


@functools.cache
def _engine_libraries() -> frozenset[str]:
    """TikZ and PGF library names among the engine's files (read once)."""
    if not TikzRenderer.available():
        return frozenset()
    files = (path.name for path in (UNPACKED / "tex_files").iterdir())
    names = (re.fullmatch(r"(?:tikz|pgf)library(.+)\.code\.tex", name) for name in files)
    return frozenset(match.group(1) for match in names if match)


def engine_command(baked: bool = True) -> list[str]:
    """The engine's command line: node, our worker, the package's entry point and set-up's
    unpacked files; `baked=False` leaves set-up's memory images unused."""
    command = ["node", str(WORKER), str(PACKAGE / "dist" / "index.js"), str(UNPACKED)]
    return command if baked else [*command, "--no-baked"]


class _Engine:
    """One node process running the TeX engine: pictures sent at once run in TeX threads of
    their own there, and replies come back as they finish, matched by request id."""

    def __init__(self, timeout_s: float, baked: bool = True) -> None:
        self.timeout_s = timeout_s
        self.baked = baked
        self.process: asyncio.subprocess.Process | None = None
        self.next_id = 0
        self.starts = 0
        self._replies: dict[int, asyncio.Future[dict[str, object]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()

    async def _running(self) -> asyncio.subprocess.Process:
        async with self._starting:
            if self.process is None or self.process.returncode is not None:
                if not TikzRenderer.available():
                    raise RendererUnavailable(
                        "TikZ needs node and node-tikzjax in renderers/assets/tikzjax; "
                        "run `make setup`"
                    )
                self.starts += 1
                self.process = await asyncio.create_subprocess_exec(
                    *engine_command(self.baked),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.DEVNULL,
                    limit=64 * 1024 * 1024,
                )
                self._reader = asyncio.create_task(self._read_replies(self.process))
            return self.process

    async def _read_replies(self, process: asyncio.subprocess.Process) -> None:
        """Hands each reply line to the request with its id; at the end of the output, every
        request still waiting hears that the engine stopped."""
        assert process.stdout is not None
        with contextlib.suppress(ValueError, ConnectionError):  # a line over the limit
            while line := await process.stdout.readline():
                reply: dict[str, object] = json.loads(line)
                waiting = self._replies.pop(int(str(reply.get("id"))), None)
                if waiting is not None and not waiting.done():
                    waiting.set_result(reply)
        for waiting in self._replies.values():
            if not waiting.done():
                waiting.set_result({"error": "the TikZ engine stopped"})
        self._replies.clear()
        if self.process is process:  # it died on its own: the next picture starts another
            self.process = None
            if process.returncode is None:
                process.kill()
            await process.wait()

    async def draw(
        self,
        source: str,
        libraries: str,
        packages: dict[str, str],
        scroll: bool = False,
        timeout_s: float | None = None,
    ) -> dict[str, object]:
        """TeX's reply for one picture; `scroll`: go on after errors. Past `timeout_s` the
        engine ends that picture's TeX thread and says so; if even that reply does not come,
        the process goes (and with it any other picture in it)."""
        timeout_s = timeout_s or self.timeout_s
        process = await self._running()
        assert process.stdin is not None
        self.next_id += 1
        request = {
            "id": self.next_id,
            "source": source,
            "libraries": libraries,
            "packages": packages,
            "mode": "scroll" if scroll else "stop",
            "budget_s": timeout_s,  # the engine stops that TeX thread then, and lives on
        }
        request_id = self.next_id
        reply = asyncio.get_running_loop().create_future()
        self._replies[request_id] = reply
        try:
            process.stdin.write((json.dumps(request) + "\n").encode())
            await process.stdin.drain()
            # Past the engine's own budget: the engine itself hangs, and the process goes.
            return await asyncio.wait_for(asyncio.shield(reply), timeout_s + 15)
        except (TimeoutError, ConnectionError):
            await self.stop()
            return {"error": f"picture took longer than {timeout_s:.0f} s", "timeout": True}
        finally:
            self._replies.pop(request_id, None)

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.returncode is None:
            if process.stdin is not None:
                process.stdin.close()
            process.kill()
            await process.wait()
        if self._reader is not None:
            await self._reader
            self._reader = None


@dataclass
class _Context:
    """What drawing under one context (libraries and preamble) has shown so far."""

    looped: bool = False  # a pass going on after an error ran out its budget: siblings would
    went_on: bool = False  # one such pass ended: the next picture needs a single pass
    slowest_s: float = 0.0  # TeX's slowest own run (sets that single pass's budget)


class TikzRenderer:
    """One TeX engine drawing up to `threads` pictures at once (started on first use), and a
    cache of drawn pictures."""

    CACHE_SIZE = 512
    # Preambles whose outcomes (looped, went on, slowest run) are remembered: a long run
    # meets a new preamble with almost every document.
    CONTEXTS_KEPT = 1024
    # Time for the second, going-on-after-errors pass over a picture that stopped at an
    # error: the first pass took far less on every picture seen; TeX in a loop takes forever.
    SCROLL_BUDGET_S = 3.0

    def __init__(self, threads: int = 1, timeout_s: float = 30.0, baked: bool = True) -> None:
        """`baked`: pictures whose packages set-up read ahead (pgfplots) start from the image
        it stored; without, the engine reads them itself once per process (~0.7 s)."""
        self.threads = max(1, threads)
        self._engine = _Engine(timeout_s, baked)
        self._slots = asyncio.Semaphore(self.threads)
        # LLM tables repeat small pictures (trend arrows, icons): draw each source once.
        self._cache: OrderedDict[tuple[str, str, str], str | TikzFailure] = OrderedDict()
        # What each recent context has shown, least recently drawn first; the contexts whose
        # first pass going on after an error is running (the rest wait for it).
        self._contexts: OrderedDict[tuple[str, str], _Context] = OrderedDict()
        self._probing: dict[tuple[str, str], asyncio.Event] = {}
        # Pictures TeX drew from a memory image with their packages already read; package
        # preambles read from the engine's own image to make one; pictures stopped at the
        # budget of the after-errors pass.
        self.preloaded_pictures = 0
        self.preambles_read = 0
        self.looping_pictures = 0
        # Pictures drawn in one pass that goes on after errors, under a preamble known not
        # to loop.
        self.single_pass_pictures = 0

    async def warm_up(self) -> None:
        """Starts the engine and a TeX thread per slot (about a second, once per process)."""
        if not self.available():
            return
        warm = "\\begin{document}\n\\begin{tikzpicture}\\draw (0,0) -- (1pt,0);"
        warm += "\\end{tikzpicture}\n\\end{document}"
        await asyncio.gather(*(self._engine.draw(warm, "", {}) for _ in range(self.threads)))

    @property
    def engine_starts(self) -> int:
        """Engine processes started so far: one, plus one per crash or hang."""
        return self._engine.starts

    @staticmethod
    def available() -> bool:
        """node, the package, and set-up's unpacked copy of its files are all here."""
        return (
            (PACKAGE / "dist" / "index.js").is_file()
            and (UNPACKED / "complete").is_file()
            and shutil.which("node") is not None
        )

    @staticmethod
    def split_libraries(libraries: str) -> tuple[str, list[str]]:
        """The `\\usetikzlibrary` names the engine has (joined), and those it lacks: loading
        one it lacks is a TeX error that would fail every picture, used or not."""
        names = [name.strip() for name in libraries.split(",") if name.strip()]
        known = _engine_libraries()
        if not known:  # the engine is not installed: its own error says so
            return libraries, []
        missing = [name for name in names if name not in known]
        return ",".join(name for name in names if name in known), missing

    async def render(
        self,
        picture: str,
        libraries: str = "",
        packages: dict[str, str] | None = None,
        preamble: str = "",
    ) -> str | TikzFailure:
        """SVG markup for a `tikzpicture` environment, or why it failed. `preamble` carries
        the document's colours and styles (`\\definecolor`, `\\tikzset`, ...) into the picture."""
        key = (picture, f"{libraries}\n{preamble}", json.dumps(packages or {}, sort_keys=True))
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        # The engine wants a document; the picture's line n is the document's line n + 3 +
        # the preamble's newlines (the engine's package line, ours of symbols, the preamble,
        # \begin{document}).
        # The engine's pgfplots predates newer compat levels; `newest` is what it has.
        preamble = _COMPAT.sub("compat=newest", preamble)
        packages = {
            name: _COMPAT.sub("compat=newest", options)
            for name, options in (packages or {}).items()
        }
        source = f"{PICTURE_SYMBOLS}\n{preamble}\n\\begin{{document}}\n{picture}\n\\end{{document}}"
        offset = preamble.count("\n") + 4
        reply, again = await self._draw(source, libraries, packages, key[1:])
        self.preloaded_pictures += reply.get("preloaded") is True
        read = reply.get("readFromScratch")
        self.preambles_read += read if isinstance(read, int) else 0
        result: str | TikzFailure
        if "error" not in reply:
            result = sanitize_svg(str(reply["svg"]))
        else:
            at = reply.get("line")
            drawn: str | None = None
            if "svg" in again:
                with contextlib.suppress(ValueError):  # refused by the sanitizer: not drawn
                    drawn = sanitize_svg(str(again["svg"]))
            result = TikzFailure(
                str(reply["error"]),
                at - offset if isinstance(at, int) and at > offset else None,
                drawn,
            )
        self._cache[key] = result
        if len(self._cache) > self.CACHE_SIZE:
            self._cache.popitem(last=False)
        return result

    async def _draw(
        self, source: str, libraries: str, packages: dict[str, str], context: tuple[str, str]
    ) -> tuple[dict[str, object], dict[str, object]]:
        """TeX's reply for the picture, and when it stopped at an error, its reply going on
        after errors as pdflatex does (empty when not tried). Going on can loop where stopping
        did not (a macro left undefined): past the budget that costs the engine, the picture
        stays undrawn and its `context` (libraries and preamble) is marked, since its siblings
        would loop too. Until one such pass under a context has ended, siblings wait for it
        (without holding a thread) rather than loop beside it. Under a context where such a
        pass ended, one pass going on after errors does both jobs: its log names the first
        error as a stopping pass would, and it draws."""
        known = self._known(context)
        await self._slots.acquire()
        held = True
        try:
            if known.went_on:
                budget_s = max(self.SCROLL_BUDGET_S, 4 * known.slowest_s)
                once = await self._engine.draw(
                    source, libraries, packages, scroll=True, timeout_s=budget_s
                )
                self._timed(known, once)
                if "timeout" not in once:  # else the long way below, stopping first
                    self.single_pass_pictures += 1
                    return once, (once if "error" in once else {})
            reply = await self._engine.draw(source, libraries, packages)
            self._timed(known, reply)
            if "error" not in reply or "timeout" in reply:
                return reply, {}
            if not known.went_on and context in self._probing:
                self._slots.release()
                held = False
                while not known.went_on and (probe := self._probing.get(context)):
                    await probe.wait()
                await self._slots.acquire()
                held = True
            if known.looped:
                return reply, {}
            again = await self._draw_past_errors(reply, source, libraries, packages, context, known)
            return reply, again
        finally:
            if held:
                self._slots.release()

    def _known(self, context: tuple[str, str]) -> _Context:
        """What `context` has shown, now its most recently drawn; only the last
        CONTEXTS_KEPT contexts are kept (a long run meets a new one with almost every
        document)."""
        known = self._contexts.pop(context, None) or _Context()
        self._contexts[context] = known
        if len(self._contexts) > self.CONTEXTS_KEPT:
            self._contexts.popitem(last=False)
        return known

    @staticmethod
    def _timed(known: _Context, reply: dict[str, object]) -> None:
        took = reply.get("seconds")  # TeX's own time, without loading packages
        if isinstance(took, int | float):
            known.slowest_s = max(known.slowest_s, float(took))

    async def _draw_past_errors(
        self,
        stopped: dict[str, object],
        source: str,
        libraries: str,
        packages: dict[str, str],
        context: tuple[str, str],
        known: _Context,
    ) -> dict[str, object]:
        """The after-errors pass, on a thread the caller holds; `known` is what `context`
        has shown."""
        probing = not known.went_on
        if probing:
            self._probing[context] = asyncio.Event()
        took = stopped.get("seconds")  # TeX's own time, without loading packages
        first_pass_s = float(took) if isinstance(took, int | float) else 0.0
        budget_s = max(self.SCROLL_BUDGET_S, 4 * first_pass_s)  # a busy machine: more
        try:
            again = await self._engine.draw(
                source, libraries, packages, scroll=True, timeout_s=budget_s
            )
            self._timed(known, again)
            if "timeout" in again:
                known.looped = True
                self.looping_pictures += 1
            else:
                known.went_on = True
        finally:
            if probing:
                self._probing.pop(context).set()
        return again

    async def close(self) -> None:
        await self._engine.stop()
