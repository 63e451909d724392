#!/usr/bin/env python3
"""Evaluation throughput benchmark: N items (default 1,000) answered from the LaTeX and from
the image by one solver, graded by one grader, all on a fake OpenAI-compatible VLM that takes
`--latency` seconds per call (default 1.0) with `--concurrency` calls at once (default 32).

The best a client can do is C / latency calls/s. Prints calls/s over the whole eval and over
its steady middle (the first and last 10 % of the calls' time span left out), their ratio to
the bound, and the share of answers the pre-grader settled without a model. Goal (issue 13):
>= 85 % of the bound at C = 32. The fake server runs in its own process; the dataset is a
parquet written here (a small PNG and a LaTeX table per item, numeric and text answers).
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
from pathlib import Path

from bench.latency import call_rates, fake_server, timed_run

ROOT = Path(__file__).resolve().parent.parent

SCENARIO = """\
name: eval-bench
seed: 5
output: {output}
models:
  vlm:
    kind: openai
    base_url: http://127.0.0.1:{port}/v1
    model: fake-1s
    vision: true
    concurrency: {concurrency}
    timeout_s: 30
    max_tokens: 1000
solvers:
  - {{persona: reader, model: vlm, view: both}}
graders:
  - {{persona: grader, model: vlm}}
max_inflight: {inflight}
"""


def write_dataset(path: Path, items: int) -> dict[str, str]:
    """A parquet of `items` questions; returns question → truth for the fake server."""
    from datasets import Dataset
    from datasets.utils.logging import disable_progress_bar
    from PIL import Image

    disable_progress_bar()

    picture = io.BytesIO()
    Image.new("RGB", (64, 32), "white").save(picture, format="PNG")
    rows: dict[str, list[object]] = {
        "image": [],
        "question": [],
        "answer": [],
        "table_latex": [],
        "id": [],
    }
    key: dict[str, str] = {}
    for number in range(items):
        question = f"What is the value in row {number} of the table?"
        truth = f"{number * 7 % 997}.{number % 10}" if number % 3 else f"Site {number}"
        latex = (
            "\\begin{tabular}{lr}\\hline Site & Value\\\\\\hline "
            f"Site {number} & {truth}\\\\\\hline\\end{{tabular}}"
        )
        rows["image"].append(picture.getvalue())
        rows["question"].append(question)
        rows["answer"].append(truth)
        rows["table_latex"].append(latex)
        rows["id"].append(f"b{number}")
        key[question] = truth
    Dataset.from_dict(rows).to_parquet(str(path))
    return key


def measure(items: int, latency: float, concurrency: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        dataset = folder / "bench.parquet"
        key_file = folder / "key.json"
        key_file.write_text(json.dumps(write_dataset(dataset, items)))
        log = folder / "calls.jsonl"
        answering = ["--answer-key", str(key_file), "--solve-accuracy", "latex=0.95,image=0.8"]
        with fake_server(latency, log, *answering, "--wordy", "0.3") as port:
            scenario = folder / "eval.yaml"
            scenario.write_text(
                SCENARIO.format(
                    output=folder / "out",
                    port=port,
                    concurrency=concurrency,
                    inflight=2 * concurrency,
                )
            )
            out = folder / "eval"
            wall = timed_run(
                "eval", str(dataset), str(scenario), "--quiet", "--no-cache", "--out", str(out)
            )
            summary = json.loads((out / "summary.json").read_text())
        calls = [json.loads(line) for line in log.read_text().splitlines()]
    whole, steady = call_rates(calls)
    return {
        "calls": len(calls),
        "calls_per_s": whole,
        "steady_calls_per_s": steady,
        "bound_calls_per_s": concurrency / latency,
        "settled_share": summary["pre_grader"]["share_settled"],
        "graded_by_jury": summary["graders"]["graded_by_jury"],
        "latex_accuracy": summary["accuracy"]["reader/latex"]["accuracy"],
        "image_accuracy": summary["accuracy"]["reader/image"]["accuracy"],
        "gap": summary["modality_gap"]["reader"]["gap"],
        "process_wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    print(
        f"fake VLM latency {args.latency:g} s, concurrency {args.concurrency}, "
        f"{args.items} items × 2 views",
        flush=True,
    )
    figures = measure(args.items, args.latency, args.concurrency)
    bound = figures["bound_calls_per_s"]
    print(
        f"bound {bound:.1f} calls/s | whole eval {figures['calls_per_s']:.1f} calls/s "
        f"({figures['calls_per_s'] / bound:.1%}) | steady {figures['steady_calls_per_s']:.1f} "
        f"calls/s ({figures['steady_calls_per_s'] / bound:.1%}) | {figures['calls']} calls in "
        f"{figures['process_wall_s']:.1f} s (process)\n"
        f"pre-grader settled {figures['settled_share']:.1%} of answers; the jury graded "
        f"{figures['graded_by_jury']} | accuracy latex {figures['latex_accuracy']:.1%}, image "
        f"{figures['image_accuracy']:.1%}, gap {figures['gap']:+.1%}",
        flush=True,
    )


if __name__ == "__main__":
    main()
