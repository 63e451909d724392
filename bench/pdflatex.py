"""The reference renderer for benchmarks: Debian's pdflatex + pdftoppm (not used at run time)."""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

INSTALL = (
    "apt-get install -y --no-install-recommends texlive-latex-base "
    "texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended "
    "texlive-science lmodern poppler-utils tesseract-ocr"
)


def available() -> bool:
    return all(shutil.which(tool) for tool in ("pdflatex", "pdftoppm", "pdftotext"))


@dataclass
class PdfResult:
    ok: bool
    png: bytes | None  # the first page
    text: str
    log_tail: str
    pages: list[bytes] = field(default_factory=list)  # every page, when asked for
    errors: int = 0  # "! ..." lines in the log: TeX drew the page despite them


async def _run(*command: str, cwd: Path, limit_s: float = 60) -> int:
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        return await asyncio.wait_for(process.wait(), limit_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        return -1


async def render(
    source: str,
    dpi: int = 200,
    text: bool = False,
    halt_on_error: bool = True,
    all_pages: bool = False,
) -> PdfResult:
    """pdflatex, then pdftoppm at `dpi` (and pdftotext when asked). Without `halt_on_error`
    pdflatex runs as a user would (nonstop): a PDF despite errors counts as drawn."""
    with tempfile.TemporaryDirectory(prefix="modswap-pdflatex-") as folder:
        work = Path(folder)
        (work / "doc.tex").write_text(source, encoding="utf-8")
        flags = ["-interaction=nonstopmode", "-no-shell-escape"]
        if halt_on_error:
            flags.append("-halt-on-error")
        code = await _run("pdflatex", *flags, "doc.tex", cwd=work)
        pdf = work / "doc.pdf"
        log = (work / "doc.log").read_text(errors="replace") if (work / "doc.log").exists() else ""
        errors = sum(1 for line in log.splitlines() if line.startswith("! "))
        if (halt_on_error and code != 0) or not pdf.exists():
            return PdfResult(False, None, "", log[-600:], errors=errors)
        if all_pages:
            await _run("pdftoppm", "-r", str(dpi), "-png", "doc.pdf", "page", cwd=work)
        else:
            await _run(
                "pdftoppm", "-r", str(dpi), "-png", "-singlefile", "doc.pdf", "page", cwd=work
            )
        words = ""
        if text:
            # Reading order (no -layout), so TeX's hyphenated line breaks can be joined.
            await _run("pdftotext", "doc.pdf", "doc.txt", cwd=work)
            words = re.sub(r"(\w)-\n(\w)", r"\1\2", (work / "doc.txt").read_text(errors="replace"))
        pages = await asyncio.to_thread(_read_pages, work)
        png = pages[0] if pages else None
        return PdfResult(png is not None, png, words, "", pages=pages, errors=errors)


def _read_pages(folder: Path) -> list[bytes]:
    return [path.read_bytes() for path in sorted(folder.glob("page*.png"), key=_page_number)]


def _page_number(path: Path) -> int:
    digits = re.sub(r"\D", "", path.stem)
    return int(digits) if digits else 0
