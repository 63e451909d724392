"""Headless Chromium render pool: one browser, N preloaded pages, no network, crash relaunch."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, CDPSession, Page, Playwright, Route, async_playwright
from playwright.async_api import Error as PlaywrightError

from renderers.errors import (
    LatexProblem,
    LatexRenderError,
    RendererUnavailable,
    RenderWarning,
    refuse_partial,
)
from renderers.grid import GridCell
from renderers.limits import RenderLimits
from renderers.tikz import TikzFailure, TikzRenderer
from renderers.translation import Picture, Translation, picture_placeholder
from renderers.translation_process import TranslationProcess

PAGE_DIR = Path(__file__).resolve().parent / "page"
ASSETS_DIR = Path(__file__).resolve().parent / "assets"
KATEX_DIR = Path(os.environ.get("MODSWAP_KATEX_DIR", ASSETS_DIR / "katex"))
# Only the page and the math assets may load: every other request (network, other files)
# is aborted.
# Pictures TeX draws at once beyond one per page: each running picture holds the engine's
# whole memory (~70 MB), and past a few cores Chromium and the caller want the rest.
MAX_TEX_THREADS = 4
TIKZ_CSS_DIR = ASSETS_DIR / "tikzjax" / "node_modules" / "node-tikzjax" / "css"
ALLOWED_ROOTS = (
    f"{PAGE_DIR.resolve()}/",
    f"{KATEX_DIR.resolve()}/",
    f"{TIKZ_CSS_DIR.resolve()}/",
)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--mute-audio",
    # Background traffic of a browser profile (updates, sign-in, safe browsing, prefetch,
    # metrics): none of it serves a render.
    "--dns-prefetch-disable",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--safebrowsing-disable-auto-update",
    "--no-pings",
    "--disable-default-apps",
    "--disable-breakpad",
    "--metrics-recording-only",
    "--no-default-browser-check",
    # A screenshot waits for a fresh frame, and frames are paced at 60 Hz: ~13 ms of each
    # ~33 ms capture was that wait. Unpaced, a frame is drawn when the capture asks for it;
    # an idle page still draws none (measured: no CPU while idle). Pages never animate.
    "--disable-frame-rate-limit",
]
# And should anything still ask: every host name resolves to nothing, without a DNS query.
RESOLVE_NOTHING = "--host-resolver-rules=MAP * ~NOTFOUND"
VIEWPORT = (1600, 1200)
# A page's renderer process and the driver grow ~0.1-0.2 MB a render (V8, CDP state) until
# the page's context closes: a fresh page every so many renders keeps a long run flat.
RECYCLE_AFTER = 100
CRASHES_PER_DOCUMENT = 2  # a document that kills the browser this often is refused
RELAUNCH_ATTEMPTS = 4
SETUP_HINT = "run `make setup` (or `bash scripts/setup.sh`)"


def chromium_path() -> Path:
    configured = os.environ.get("MODSWAP_CHROMIUM")
    if configured:
        candidates = [Path(configured)]
    else:
        candidates = [Path("/usr/bin/chromium"), Path("/usr/bin/chromium-browser")]
        found = shutil.which("chromium")
        if found:
            candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    where = configured or "/usr/bin/chromium"
    raise RendererUnavailable(
        f"Chromium was not found at {where}; {SETUP_HINT} to install Debian's chromium"
    )


def check_assets() -> None:
    if not (KATEX_DIR / "katex.min.js").is_file():
        raise RendererUnavailable(f"KaTeX assets are missing in {KATEX_DIR}; {SETUP_HINT}")


@dataclass(frozen=True)
class RenderResult:
    png: bytes
    width: int
    height: int
    grid: tuple[GridCell, ...]
    text: str
    html: str
    warnings: tuple[RenderWarning, ...] = field(default_factory=tuple)

    @property
    def partial(self) -> bool:
        """Something visible is missing or drawn differently from TeX."""
        return any(warning.partial for warning in self.warnings)


class ChromiumRenderer:
    """The render seam (`async render(latex) -> RenderResult`) on a pool of Chromium pages."""

    def __init__(
        self,
        pages: int = 2,
        scale: float = 2.0,
        timeout_s: float = 20.0,
        allow_partial: bool = False,
        limits: RenderLimits | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.page_count = max(1, pages)
        self.scale = scale
        self.timeout_s = timeout_s
        # A render with a partial warning (content dropped, a picture not drawn): refused
        # with that warning as its error (default), or returned with its warnings.
        self.allow_partial = allow_partial
        self.limits = limits or RenderLimits()
        self.extra_args = extra_args  # appended after ours: the later of two switches wins
        self._translator = TranslationProcess()
        self._tikz: TikzRenderer | None = None
        self._tikz_warming: asyncio.Task[None] | None = None
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._pages: asyncio.Queue[Page] = asyncio.Queue()
        self._launch_lock = asyncio.Lock()
        self._generation = 0
        self._cdp: dict[Page, CDPSession] = {}
        self._uses: dict[Page, int] = {}
        self.relaunches = 0

    async def __aenter__(self) -> ChromiumRenderer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self, warm_tikz: bool = False) -> None:
        """Launches the browser; with `warm_tikz` the TikZ engine starts too, in the
        background (for callers that know pictures are coming)."""
        executable = chromium_path()
        check_assets()
        if warm_tikz:
            # Not awaited: documents without pictures render while TeX starts (~2 s beside
            # the browser's start, which they had waited for); a picture waits for the engine.
            self._tikz_warming = asyncio.create_task(self.tikz.warm_up())
        self._playwright = await async_playwright().start()
        await asyncio.gather(self._launch(executable), self._translator.warm_up())

    @property
    def tikz(self) -> TikzRenderer:
        """The TikZ engine, started on the first picture. It draws a picture per page at once,
        or one per core when there are more cores: a document's pictures are drawn before
        its page is, so one document with several pictures has the cores to itself."""
        if self._tikz is None:
            threads = max(self.page_count, min(os.cpu_count() or 1, MAX_TEX_THREADS))
            self._tikz = TikzRenderer(threads=threads, timeout_s=max(self.timeout_s, 30.0))
        return self._tikz

    async def _launch(self, executable: Path | None = None) -> None:
        assert self._playwright is not None
        try:
            self._browser = await self._playwright.chromium.launch(
                executable_path=str(executable or chromium_path()),
                args=[*CHROMIUM_FLAGS, RESOLVE_NOTHING, *self.extra_args],
                headless=True,
            )
        except PlaywrightError as error:
            raise RendererUnavailable(
                f"Chromium failed to start ({error.message.splitlines()[0]}); {SETUP_HINT}"
            ) from None
        self._generation += 1
        self._cdp.clear()
        self._uses.clear()
        # Same queue object: renders already waiting for a page must get the new ones.
        while not self._pages.empty():
            self._pages.get_nowait()
        # Side by side: each page's set-up (a renderer process, KaTeX parsed) waits mostly on
        # Chromium, and a page made after another doubled the browser's start.
        for page in await asyncio.gather(*(self._new_page() for _ in range(self.page_count))):
            await self._pages.put(page)

    async def _new_page(self) -> Page:
        assert self._browser is not None
        context = await self._browser.new_context(
            device_scale_factor=self.scale,
            viewport={"width": VIEWPORT[0], "height": VIEWPORT[1]},
            java_script_enabled=True,
            offline=True,
            service_workers="block",
            accept_downloads=False,
        )
        page = await context.new_page()

        async def guard(route: Route) -> None:
            url = route.request.url
            if url.startswith("file://") and _file_path(url).startswith(ALLOWED_ROOTS):
                await route.continue_()
            else:
                await route.abort("blockedbyclient")

        await context.route("**/*", guard)
        # Screenshots through CDP: half the time of page.screenshot, same pixels.
        self._cdp[page] = await context.new_cdp_session(page)
        await page.goto((PAGE_DIR / "base.html").as_uri())
        await page.wait_for_function("typeof window.modswapRender === 'function'")
        if not await page.evaluate("typeof window.katex === 'object'"):
            # Every table with math would fail and its generator be asked for repairs.
            raise RendererUnavailable(
                f"KaTeX did not load in the render page (from {KATEX_DIR}); {SETUP_HINT}"
            )
        return page

    async def close(self) -> None:
        self._translator.close()
        if self._tikz_warming is not None:
            # Awaited, not cancelled: a cancel inside the engine's start could leave its
            # process unowned. Its failure (no engine) is a picture's to report, not close's.
            with contextlib.suppress(Exception):
                await self._tikz_warming
            self._tikz_warming = None
        if self._tikz is not None:
            await self._tikz.close()
            self._tikz = None
        if self._browser is not None:
            with contextlib.suppress(PlaywrightError):
                await self._browser.close()
            self._browser = None
        if self._playwright is not None:
            await self._playwright.stop()
            self._playwright = None

    async def render(self, latex: str) -> RenderResult:
        """Renders a LaTeX document; LatexRenderError for the document's faults."""
        # In a worker process: a document that loops or eats memory cannot stall the loop.
        translation = await self._translator.translate(
            latex, self.limits, not self.allow_partial, deadline_s=self.timeout_s
        )
        if translation.pictures:
            translation = await self._draw_pictures(translation)
            self._refuse_partial(translation.warnings)
        for _ in range(CRASHES_PER_DOCUMENT):
            try:
                return await self._render_html(translation)
            except _BrowserGone as gone:
                await self._relaunch(gone.generation)
        # The browser died every time it drew this document: refuse it, keep the pool alive.
        raise LatexRenderError(
            LatexProblem(
                f"the browser crashed {CRASHES_PER_DOCUMENT} times drawing this document",
                None,
                "crash",
            )
        )

    def _refuse_partial(self, warnings: list[RenderWarning]) -> None:
        if not self.allow_partial:
            refuse_partial(warnings)

    async def _draw_pictures(self, translation: Translation) -> Translation:
        """TikZ pictures become sanitized inline SVG; a failure names the picture."""
        tikz = self.tikz
        markup = translation.html
        warnings = list(translation.warnings)
        libraries, missing = tikz.split_libraries(translation.tikz_libraries)
        for name in missing:
            warnings.append(
                RenderWarning(
                    f"TikZ library {name} is not available; pictures are drawn without it",
                    None,
                    "usetikzlibrary",
                )
            )

        async def draw(picture: Picture) -> str | TikzFailure:
            try:
                return await tikz.render(
                    picture.source, libraries, translation.tikz_packages, translation.tikz_preamble
                )
            except ValueError as error:  # the SVG failed sanitizing
                return TikzFailure(str(error), None)

        # A document's pictures go to all the engines at once; results are used in order.
        results = await asyncio.gather(*(draw(picture) for picture in translation.pictures))
        for picture, drawn in zip(translation.pictures, results, strict=True):
            if isinstance(drawn, TikzFailure):
                line = (
                    picture.line + drawn.line - 1
                    if picture.line is not None and drawn.line is not None
                    else picture.line
                )
                outcome = "failed" if drawn.svg is None else "drawn as far as TeX got"
                warnings.append(
                    RenderWarning(
                        f"TikZ picture {picture.index + 1} {outcome}: {drawn.message}",
                        line,
                        "tikzpicture",
                        partial=True,
                    )
                )
                if not self.allow_partial:
                    break
                drawn = drawn.svg or '<span class="tikz-failed">[picture not rendered]</span>'
            markup = markup.replace(
                picture_placeholder(picture.index), f'<span class="tikz">{drawn}</span>', 1
            )
        return replace(translation, html=markup, warnings=warnings)

    async def _relaunch(self, failed_generation: int) -> None:
        async with self._launch_lock:
            if failed_generation != self._generation:
                return  # another task already relaunched
            self.relaunches += 1
            if self._browser is not None:
                with contextlib.suppress(PlaywrightError):
                    await self._browser.close()
            for attempt in range(RELAUNCH_ATTEMPTS):
                try:
                    await self._launch()
                    return
                except (RendererUnavailable, PlaywrightError):
                    if attempt == RELAUNCH_ATTEMPTS - 1:
                        raise
                    await asyncio.sleep(0.5 * 2**attempt)  # a machine short of memory recovers

    async def _render_html(self, translation: Translation) -> RenderResult:
        """One page's whole job, layout to screenshot, under one deadline. A page that misses
        it, or errs, is closed and replaced; a browser that died is reported as gone."""
        page = await self._pages.get()
        generation = self._generation
        healthy = True
        gone = False
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._draw(page, translation)
        except TimeoutError:
            healthy = False
            raise LatexRenderError(
                LatexProblem(f"render took longer than {self.timeout_s:.0f} s", None, "timeout")
            ) from None
        except PlaywrightError as error:
            healthy = False
            if self._browser is None or not self._browser.is_connected() or _is_crash(error):
                gone = True
                raise _BrowserGone(generation) from None
            message = error.message.splitlines()[0][:200]
            raise LatexRenderError(
                LatexProblem(f"the browser failed: {message}", None, "browser")
            ) from None
        finally:
            if generation == self._generation and not gone:
                self._uses[page] = self._uses.get(page, 0) + 1
                if healthy and self._uses[page] < RECYCLE_AFTER:
                    self._pages.put_nowait(page)
                else:
                    await self._replace_page(page)

    async def _draw(self, page: Page, translation: Translation) -> RenderResult:
        body, page_setup = translation.html, translation.page
        options = {
            "fontSizePt": page_setup.font_size_pt,
            "textWidthPx": page_setup.text_width_px,
            "sans": page_setup.sans,
            "pageColor": page_setup.page_color,
        }
        drawn: dict[str, Any] = json.loads(
            await page.evaluate("([b, o]) => window.modswapRender(b, o)", [body, options])
        )
        warnings = list(translation.warnings)
        for failed in drawn["mathErrors"]:  # drawn as its source: not what TeX draws
            warnings.append(
                RenderWarning(
                    f"math '{failed['tex'][:60]}' failed: {failed['message'][:160]}",
                    None,
                    "math",
                    partial=True,
                )
            )
        if drawn["sourceLeaks"]:
            warnings.append(
                RenderWarning(
                    "LaTeX source drawn as text: " + ", ".join(drawn["sourceLeaks"]),
                    None,
                    "source",
                    partial=True,
                )
            )
        self._refuse_partial(warnings)
        box = drawn["box"]
        if box is None:
            raise LatexRenderError(LatexProblem("the document draws nothing", None, "document"))
        self._check_page_size(box)
        if box["width"] > page_setup.paper_width_px + 24:
            # TeX runs into the margin and past the paper; the image grows with it.
            warnings.append(
                RenderWarning(
                    f"content is {box['width']:.0f} px wide but the page is "
                    f"{page_setup.paper_width_px:.0f} px: drawn whole, past the paper's "
                    "edge; \\resizebox{\\textwidth}{!}{...} would fit it",
                    None,
                    "width",
                )
            )
        await self._fit_viewport(page, box)
        # Not full_page: Chromium then drops collapsed borders between table rows.
        shot = await self._cdp[page].send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "optimizeForSpeed": True,
                "captureBeyondViewport": False,
                "clip": {**box, "scale": self.scale},
            },
        )
        grid = tuple(GridCell(**cell) for cell in (drawn["tables"][0] if drawn["tables"] else []))
        return RenderResult(
            png=base64.b64decode(shot["data"]),
            width=round(box["width"] * self.scale),
            height=round(box["height"] * self.scale),
            grid=grid,
            text=drawn["text"],
            html=body,
            warnings=tuple(warnings),
        )

    def _check_page_size(self, box: dict[str, float]) -> None:
        """The laid-out page and its image within the limits, before any viewport or pixel."""
        limits = self.limits
        megapixels = box["width"] * box["height"] * self.scale**2 / 1e6
        if box["height"] > limits.max_height_px or megapixels > limits.max_megapixels:
            raise LatexRenderError(
                LatexProblem(
                    f"the page is {box['width']:.0f}×{box['height']:.0f} px "
                    f"({megapixels:.0f} megapixels at this scale), more than the limits of "
                    f"{limits.max_height_px} px high and {limits.max_megapixels:.0f} megapixels",
                    None,
                    "limit",
                )
            )

    @staticmethod
    async def _fit_viewport(page: Page, box: dict[str, float]) -> None:
        size = page.viewport_size or {"width": VIEWPORT[0], "height": VIEWPORT[1]}
        need_width = max(VIEWPORT[0], int(box["x"] + box["width"]) + 16)
        need_height = max(VIEWPORT[1], int(box["y"] + box["height"]) + 16)
        if (
            need_width > size["width"]
            or need_height > size["height"]
            or (size["width"] > VIEWPORT[0] and need_width == VIEWPORT[0])
        ):
            await page.set_viewport_size({"width": need_width, "height": need_height})

    async def _replace_page(self, page: Page) -> None:
        self._cdp.pop(page, None)
        self._uses.pop(page, None)
        with contextlib.suppress(PlaywrightError):
            await page.context.close()
        try:
            self._pages.put_nowait(await self._new_page())
        except PlaywrightError:
            await self._relaunch(self._generation)


class _BrowserGone(Exception):
    def __init__(self, generation: int) -> None:
        super().__init__("browser gone")
        self.generation = generation


def _is_crash(error: PlaywrightError) -> bool:
    message = error.message.lower()
    return any(
        mark in message
        for mark in (
            "target closed",
            "browser has been closed",
            "crash",
            "target page, context or browser",
        )
    )


def _file_path(url: str) -> str:
    """The file a URL names, links resolved: the guard judges where a read really lands
    (an assets folder may be a link to a shared copy; a link inside it may not lead out)."""
    from urllib.parse import unquote, urlparse

    return str(Path(unquote(urlparse(url).path)).resolve())
