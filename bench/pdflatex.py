"""The reference renderer for benchmarks: Debian's pdflatex + pdftoppm (not used at run time)."""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from dataclasses import dataclass
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
    png: bytes | None
    text: str
    log_tail: str


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


async def render(source: str, dpi: int = 200, text: bool = False) -> PdfResult:
    """pdflatex -halt-on-error, then pdftoppm at `dpi` (and pdftotext when asked)."""
    with tempfile.TemporaryDirectory(prefix="modswap-pdflatex-") as folder:
        work = Path(folder)
        (work / "doc.tex").write_text(source, encoding="utf-8")
        code = await _run(
            "pdflatex",
            "-interaction=nonstopmode",
            "-halt-on-error",
            "-no-shell-escape",
            "doc.tex",
            cwd=work,
        )
        pdf = work / "doc.pdf"
        log = (work / "doc.log").read_text(errors="replace") if (work / "doc.log").exists() else ""
        if code != 0 or not pdf.exists():
            return PdfResult(False, None, "", log[-600:])
        await _run("pdftoppm", "-r", str(dpi), "-png", "-singlefile", "doc.pdf", "page", cwd=work)
        words = ""
        if text:
            # Reading order (no -layout), so TeX's hyphenated line breaks can be joined.
            await _run("pdftotext", "doc.pdf", "doc.txt", cwd=work)
            words = re.sub(r"(\w)-\n(\w)", r"\1\2", (work / "doc.txt").read_text(errors="replace"))
        png = (work / "page.png").read_bytes() if (work / "page.png").exists() else None
        return PdfResult(png is not None, png, words, "")
