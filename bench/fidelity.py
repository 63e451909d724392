#!/usr/bin/env python3
"""Fidelity: do our images say what pdflatex's say? OCR word recall, ours / pdflatex.

For each document in bench/corpus: render it with modswap and with pdflatex + pdftoppm at
200 dpi, read both images with the same OCR (tesseract), and score each against the words
`pdftotext` extracts from pdflatex's PDF (word recall, as multisets). Prints per-file and
mean `ours / pdflatex`, the failures of each side, and saves a contact sheet of our renders.
Goal (issue 3): mean >= 0.97, no crash, fewer failed documents than pdflatex.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import re
import shutil
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import pdflatex  # noqa: E402
from renderers.chromium import ChromiumRenderer  # noqa: E402
from renderers.errors import LatexRenderError  # noqa: E402

DPI = 200
_WORD = re.compile(r"[0-9]+(?:[.,][0-9]+)*|[^\W\d_]+")


def words(text: str) -> Counter[str]:
    return Counter(token.lower().replace(",", "") for token in _WORD.findall(text))


def recall(found: Counter[str], reference: Counter[str]) -> float:
    total = sum(reference.values())
    return sum((found & reference).values()) / total if total else 1.0


def without_rules(png: bytes) -> Image.Image:
    """The image with table rules whitened: tesseract reads ruled grids badly, ours and
    pdflatex's alike, and the comparison is about the text."""
    image = Image.open(io.BytesIO(png)).convert("L")
    pixels = image.load()
    assert pixels is not None
    width, height = image.size

    def longest_run(values: list[bool]) -> int:
        best = current = 0
        for dark in values:
            current = current + 1 if dark else 0
            best = max(best, current)
        return best

    # A rule is a long unbroken dark run; text is short runs, however dense the crop.
    for y in range(height):
        if longest_run([pixels[x, y] < 128 for x in range(width)]) > max(60, 0.2 * width):
            for x in range(width):
                pixels[x, y] = 255
    for x in range(width):
        if longest_run([pixels[x, y] < 128 for y in range(height)]) > max(60, 0.2 * height):
            for y in range(height):
                pixels[x, y] = 255
    return image


async def ocr(png: bytes, folder: Path, name: str) -> str:
    path = folder / f"{name}.png"
    await asyncio.to_thread(lambda: without_rules(png).save(path))
    process = await asyncio.create_subprocess_exec(
        "tesseract",
        str(path),
        "stdout",
        "--psm",
        "6",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    output, _ = await process.communicate()
    return output.decode("utf-8", errors="replace")


def contact_sheet(images: list[tuple[str, bytes]], path: Path, columns: int = 5) -> None:
    thumbs = []
    for _, png in images:
        image = Image.open(io.BytesIO(png)).convert("RGB")
        image.thumbnail((420, 320))
        thumbs.append(image)
    rows = (len(thumbs) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * 430, rows * 330), "white")
    for index, thumb in enumerate(thumbs):
        sheet.paste(thumb, ((index % columns) * 430 + 5, (index // columns) * 330 + 5))
    sheet.save(path)


async def main_async(out: Path) -> int:
    if not (pdflatex.available() and shutil.which("tesseract")):
        print(f"needs pdflatex, poppler and tesseract: {pdflatex.INSTALL}")
        return 1
    files = sorted((ROOT / "bench" / "corpus").glob("*.tex"))
    ratios: list[float] = []
    ours_all: list[float] = []
    theirs_all: list[float] = []
    ours_failed: list[str] = []
    theirs_failed: list[str] = []
    rendered: list[tuple[str, bytes]] = []
    with tempfile.TemporaryDirectory(prefix="modswap-fidelity-") as scratch:
        folder = Path(scratch)
        async with ChromiumRenderer(pages=2, scale=DPI / 96) as renderer:
            for path in files:
                source = path.read_text()
                reference = await pdflatex.render(source, DPI, text=True)
                try:
                    ours_png: bytes | None = (await renderer.render(source)).png
                except LatexRenderError as error:
                    ours_png = None
                    ours_failed.append(f"{path.name}: {error}")
                if not reference.ok:
                    theirs_failed.append(path.name)
                    print(
                        f"{path.name:<42} pdflatex failed; ours "
                        f"{'rendered' if ours_png else 'failed'}"
                    )
                    continue
                expected = words(reference.text)
                assert reference.png is not None
                their_text = await ocr(reference.png, folder, "theirs")
                our_text = await ocr(ours_png, folder, "ours") if ours_png else ""
                ours_recall = recall(words(our_text), expected)
                theirs_recall = recall(words(their_text), expected)
                ratio = ours_recall / theirs_recall if theirs_recall else 0.0
                ratios.append(ratio)
                ours_all.append(ours_recall)
                theirs_all.append(theirs_recall)
                if ours_png:
                    rendered.append((path.name, ours_png))
                print(
                    f"{path.name:<42} recall ours {ours_recall:.3f}  pdflatex "
                    f"{theirs_recall:.3f}  ratio {ratio:.3f}"
                )
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    sheet = out / "contact_sheet.png"
    contact_sheet(rendered, sheet)
    print(
        f"\nmean ours / pdflatex: {statistics.mean(ratios):.3f} over {len(ratios)} documents "
        f"(median {statistics.median(ratios):.3f}, min {min(ratios):.3f}); goal >= 0.97"
    )
    print(
        f"mean recall: ours {statistics.mean(ours_all):.3f}, pdflatex "
        f"{statistics.mean(theirs_all):.3f} (ratio of means "
        f"{statistics.mean(ours_all) / statistics.mean(theirs_all):.3f})"
    )
    print(f"failed: ours {len(ours_failed)}, pdflatex {len(theirs_failed)} of {len(files)}")
    for failure in ours_failed:
        print(f"  ours: {failure}")
    print(f"contact sheet: {sheet}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "out" / "bench"), help="contact sheet folder")
    return asyncio.run(main_async(Path(parser.parse_args().out)))


if __name__ == "__main__":
    sys.exit(main())
