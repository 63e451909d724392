#!/usr/bin/env python3
"""Fidelity against pdflatex: do we draw what TeX draws, and do our images say what its pages say?

For each document of a corpus (default `bench/corpus`; run it also on outside material such as
`--corpus ../shared/corpus/realworld`):
- did pdflatex draw it (nonstop mode, as a user runs it; errors in its log are counted), did
  we (rendered, partial, or refused with a construct), and how long we took;
- recall of pdflatex's words (`pdftotext` of its whole PDF) in the OCR of our image and in the
  OCR of pdflatex's pages (the same tesseract for both; rules whitened first), and in the text
  we extracted from our page.
Prints a per-file table worst first, refusal and warning counts by construct, the means, and
writes a contact sheet of our image beside pdflatex's first page for every document.
Goals (issue 9) on the 69 outside documents: render >= 67, mean OCR recall >= 0.95 of
pdflatex's, extracted-text recall >= 0.97, no document over 10 s.
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
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import pdflatex  # noqa: E402
from renderers.chromium import ChromiumRenderer  # noqa: E402
from renderers.errors import LatexRenderError  # noqa: E402
from renderers.limits import UNLIMITED_ROWS  # noqa: E402

DPI = 200
_WORD = re.compile(r"[0-9]+(?:[.,][0-9]+)*|[^\W\d_]+")
Image.MAX_IMAGE_PIXELS = None  # long tables make tall pages; they are our own images


def words(text: str) -> Counter[str]:
    return Counter(token.lower().replace(",", "") for token in _WORD.findall(text))


def recall(found: Counter[str], reference: Counter[str]) -> float:
    total = sum(reference.values())
    return sum((found & reference).values()) / total if total else 1.0


def _longest_dark_runs(dark: np.ndarray) -> np.ndarray:
    """Longest run of dark pixels in each row of a boolean image."""
    best = np.zeros(dark.shape[0], dtype=np.int32)
    current = np.zeros(dark.shape[0], dtype=np.int32)
    for column in range(dark.shape[1]):
        current = (current + 1) * dark[:, column]
        np.maximum(best, current, out=best)
    return best


def without_rules(png: bytes) -> Image.Image:
    """The image with table rules whitened: tesseract reads ruled grids badly, ours and
    pdflatex's alike, and the comparison is about the text."""
    image = np.array(Image.open(io.BytesIO(png)).convert("L"))
    dark = image < 128
    height, width = dark.shape
    rows = _longest_dark_runs(dark) > max(60, 0.2 * width)
    columns = _longest_dark_runs(dark.T) > max(60, 0.2 * height)
    image[rows, :] = 255
    image[:, columns] = 255
    return Image.fromarray(image)


async def ocr(pngs: list[bytes], folder: Path, name: str) -> str:
    texts = []
    for index, png in enumerate(pngs):
        path = folder / f"{name}-{index}.png"
        await asyncio.to_thread(lambda png=png, path=path: without_rules(png).save(path))
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
        texts.append(output.decode("utf-8", errors="replace"))
    return "\n".join(texts)


@dataclass
class Outcome:
    name: str
    theirs_drawn: bool = False
    theirs_errors: int = 0
    ours: str = "refused"  # rendered | partial | refused
    refusal: str = ""
    seconds: float = 0.0
    ocr_ours: float = 0.0
    ocr_theirs: float = 0.0
    text_ours: float = 0.0
    warnings: list[tuple[str, bool]] = field(default_factory=list)
    our_png: bytes | None = None
    their_png: bytes | None = None

    @property
    def ratio(self) -> float:
        return self.ocr_ours / self.ocr_theirs if self.ocr_theirs else 0.0


async def measure(
    path: Path, renderer: ChromiumRenderer, folder: Path, lock: asyncio.Lock
) -> Outcome:
    source = await asyncio.to_thread(path.read_text, encoding="utf-8", errors="replace")
    outcome = Outcome(path.name)
    reference = await pdflatex.render(source, DPI, text=True, halt_on_error=False, all_pages=True)
    outcome.theirs_drawn, outcome.theirs_errors = reference.ok, reference.errors
    async with lock:  # one document on our side at a time, so its seconds are its own
        started = time.perf_counter()
        try:
            result = await renderer.render(source)
        except LatexRenderError as error:
            outcome.refusal = f"{error.problem.construct}: {error.problem.message[:90]}"
            result = None
        outcome.seconds = time.perf_counter() - started
    expected = words(reference.text)
    if result is not None:
        outcome.ours = "partial" if result.partial else "rendered"
        outcome.warnings = [(w.construct, w.partial) for w in result.warnings]
        outcome.our_png = result.png
        outcome.text_ours = recall(words(result.text), expected)
        our_ocr = await ocr([result.png], folder, path.stem + "-ours")
        outcome.ocr_ours = recall(words(our_ocr), expected)
    if reference.ok:
        outcome.their_png = reference.png
        their_text = await ocr(reference.pages, folder, path.stem + "-theirs")
        outcome.ocr_theirs = recall(words(their_text), expected)
    return outcome


def _trimmed(image: Image.Image) -> Image.Image:
    """The page without its white margins, so a small table is not a speck on a sheet."""
    ink = np.array(image.convert("L")) < 230
    rows, columns = np.nonzero(ink.any(axis=1))[0], np.nonzero(ink.any(axis=0))[0]
    if len(rows) == 0:
        return image
    return image.crop((columns[0], rows[0], columns[-1] + 1, rows[-1] + 1))


def recall_summary(label: str, group: list[Outcome]) -> str:
    ours = statistics.mean(o.ocr_ours for o in group)
    theirs = statistics.mean(o.ocr_theirs for o in group)
    return (
        f"{len(group)} {label}: OCR recall ours {ours:.3f}, pdflatex {theirs:.3f} → ratio of "
        f"means {ours / theirs:.3f}; per-file ratios mean "
        f"{statistics.mean(o.ratio for o in group):.3f} (median "
        f"{statistics.median(o.ratio for o in group):.3f}); extracted-text recall mean "
        f"{statistics.mean(o.text_ours for o in group):.3f} (median "
        f"{statistics.median(o.text_ours for o in group):.3f})"
    )


def contact_sheet(outcomes: list[Outcome], path: Path, pairs_per_row: int = 3) -> None:
    """Ours (left) beside pdflatex's first page (right), each pair under its file name."""
    from PIL import ImageDraw

    cell_w, cell_h, label_h = 300, 300, 16
    rows = (len(outcomes) + pairs_per_row - 1) // pairs_per_row
    sheet = Image.new(
        "RGB", (pairs_per_row * (2 * cell_w + 20), rows * (cell_h + label_h + 10)), "white"
    )
    draw = ImageDraw.Draw(sheet)
    for index, outcome in enumerate(outcomes):
        x = (index % pairs_per_row) * (2 * cell_w + 20)
        y = (index // pairs_per_row) * (cell_h + label_h + 10)
        label = f"{outcome.name} [{outcome.ours}] ocr {outcome.ratio:.2f}"
        draw.text((x + 4, y + 2), label, fill="black")
        for offset, png in ((0, outcome.our_png), (cell_w, outcome.their_png)):
            if png is None:
                draw.rectangle(
                    (x + offset, y + label_h, x + offset + cell_w - 4, y + label_h + 40),
                    outline="red",
                )
                continue
            thumb = _trimmed(Image.open(io.BytesIO(png)).convert("RGB"))
            thumb.thumbnail((cell_w - 6, cell_h - 6))
            sheet.paste(thumb, (x + offset, y + label_h))
            draw.rectangle(
                (x + offset, y + label_h, x + offset + thumb.width, y + label_h + thumb.height),
                outline=(200, 200, 200),
            )
    sheet.save(path)


async def main_async(corpus: Path, out: Path) -> int:
    if not (pdflatex.available() and shutil.which("tesseract")):
        print(f"needs pdflatex, poppler and tesseract: {pdflatex.INSTALL}")
        return 1
    files = sorted(await asyncio.to_thread(lambda: list(corpus.glob("*.tex"))))
    if not files:
        print(f"no .tex files in {corpus}")
        return 1
    lock = asyncio.Lock()
    with tempfile.TemporaryDirectory(prefix="modswap-fidelity-") as scratch:
        # As `run.py render` runs: partial renders kept with their warnings, no row limit.
        async with ChromiumRenderer(
            pages=2, scale=DPI / 96, allow_partial=True, limits=UNLIMITED_ROWS
        ) as renderer:
            gate = asyncio.Semaphore(2)

            async def one(path: Path) -> Outcome:
                async with gate:
                    return await measure(path, renderer, Path(scratch), lock)

            outcomes = await asyncio.gather(*(one(path) for path in files))
    print(
        f"{'document':<38} {'pdflatex':<10} {'ours':<9} {'s':>5} {'ocr us':>7} "
        f"{'ocr tex':>7} {'ratio':>6} {'text':>6}"
    )
    for o in sorted(outcomes, key=lambda o: (o.ours != "refused", o.ratio)):
        theirs = (
            "drawn" + (f"/{o.theirs_errors}e" if o.theirs_errors else "")
            if o.theirs_drawn
            else "failed"
        )
        print(
            f"{o.name[:38]:<38} {theirs:<10} {o.ours:<9} {o.seconds:5.1f} {o.ocr_ours:7.3f} "
            f"{o.ocr_theirs:7.3f} {o.ratio:6.3f} {o.text_ours:6.3f}"
            + (f"  {o.refusal}" if o.refusal else "")
        )
    both = [o for o in outcomes if o.theirs_drawn and o.ours != "refused"]
    drawn = [o for o in outcomes if o.ours != "refused"]
    clean = [o for o in outcomes if o.theirs_drawn and not o.theirs_errors]
    print(
        f"\ndocuments: {len(outcomes)}; pdflatex drew {sum(o.theirs_drawn for o in outcomes)} "
        f"({len(clean)} without errors); we drew {len(drawn)} "
        f"({sum(o.ours == 'partial' for o in outcomes)} partial), refused "
        f"{len(outcomes) - len(drawn)}; of pdflatex's clean ones we drew "
        f"{sum(o.ours != 'refused' for o in clean)}"
    )
    clean_both = [o for o in both if not o.theirs_errors]
    for label, group in (
        ("drawn by both", both),
        ("drawn by both, pdflatex without errors", clean_both),
    ):
        if group and (group is both or len(group) < len(both)):
            print(recall_summary(label, group))
    seconds = sorted((o.seconds, o.name) for o in outcomes)
    print(
        f"our seconds per document: median {statistics.median(s for s, _ in seconds):.2f}, "
        f"max {seconds[-1][0]:.2f} ({seconds[-1][1]})"
    )
    refusals = Counter(o.refusal.split(":")[0] for o in outcomes if o.refusal)
    warned = Counter(construct for o in outcomes for construct, _ in o.warnings)
    partial = Counter(construct for o in outcomes for construct, part in o.warnings if part)
    print(f"refusals by construct: {dict(refusals.most_common()) or 'none'}")
    print(f"partial warnings by construct: {dict(partial.most_common()) or 'none'}")
    print(f"warnings by construct (top 25): {dict(warned.most_common(25))}")
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    sheet = out / f"contact_sheet_{corpus.name}.png"
    ordered = sorted(outcomes, key=lambda o: o.name)
    await asyncio.to_thread(contact_sheet, ordered, sheet)
    print(f"contact sheet (ours left, pdflatex right): {sheet}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--corpus", default=str(ROOT / "bench" / "corpus"), help="folder of .tex documents"
    )
    parser.add_argument("--out", default=str(ROOT / "out" / "bench"), help="contact sheet folder")
    arguments = parser.parse_args()
    return asyncio.run(main_async(Path(arguments.corpus), Path(arguments.out)))


if __name__ == "__main__":
    sys.exit(main())
