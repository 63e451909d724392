#!/usr/bin/env python3
"""modswap: run a scenario's agent society, replay a run, or render LaTeX files.

    python run.py SCENARIO [--out DIR] [--target N] [--seed N] [--set KEY=VALUE] [--quiet]
    python run.py run SCENARIO ...            (same as above)
    python run.py run --resume RUN_DIR        (finish a run that was stopped or killed)
    python run.py SCENARIO --shards K         (K processes over parts of the work, merged)
    python run.py SCENARIO --shards K --ray ADDRESS|local  (the shards as Ray actors)
    python run.py merge RUN_DIR               (a sharded run's shards into its folder again)
    python run.py push RUN_OR_EXPORT --repo OWNER/NAME [--private] [--revision BRANCH]
    python run.py replay RUN_DIR [--quiet]
    python run.py render FILE.tex... --out DIR [--json] [--scale 2]
    python run.py validate SCENARIO...        (check files; list the API keys they need)
    python run.py personas [NAME] [--scenario FILE]  (personas, every knob and its source)
    python run.py report RUN_DIR [--out FILE]  (one self-contained HTML file)
    python run.py show RUN_DIR ITEM_ID         (one item's story: drafts, renders, votes)
    python run.py compare RUN_DIR... [--out FILE]  (runs side by side, with significance)
    python run.py jury-study RUN_DIR          (its votes under every rule and jury subset)
    python run.py eval DATASET SCENARIO [--out DIR] [--skip-bad]  (solvers answer, a jury grades)
    python run.py eval --resume EVAL_DIR
    python run.py export RUN_DIR --format llava|sharegpt|internvl|swift --out DIR

Arguments and dispatch; the models are built in environment/models/assembly.py, the
agents in agents/registry.py, and the world runs them (environment/core/world.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from environment.errors import (
    INTERRUPTED_EXIT_STATUS,
    BudgetError,
    ModswapError,
    RenderError,
    StoreError,
    UserInputError,
)

# Each command imports what it needs when it runs: `render` starts without the agents.
if TYPE_CHECKING:
    from environment.core.eval_run import EvalOptions
    from environment.core.launch import RunOptions

ROOT = Path(__file__).resolve().parent
PERSONAS_DIR = ROOT / "agents" / "personas"
EXIT_USER_ERROR = UserInputError.exit_status
EXIT_INTERRUPTED = INTERRUPTED_EXIT_STATUS
EXIT_BUDGET = BudgetError.exit_status  # a run that stopped at its cap, everything saved


def run_options(args: argparse.Namespace) -> RunOptions:
    """The run flags, with the agents' registry the environment builds agents through."""
    from agents.registry import build_participants
    from environment.core.launch import RunOptions

    return RunOptions(
        build_participants=build_participants,
        evaluation=eval_options(args),
        personas_dir=PERSONAS_DIR,
        shard_command=(sys.executable, str(ROOT / "run.py")),
        out=args.out,
        target=args.target,
        seed=args.seed,
        quiet=args.quiet,
        no_cache=args.no_cache,
        shard_report=args.shard_report,
        shards=args.shards,
        ray=args.ray,
    )


async def run_command(args: argparse.Namespace) -> int:
    from environment.config.scenario import load_scenario
    from environment.core.launch import (
        execute,
        execute_sharded,
        prepare_fresh,
        prepare_resume,
        prepare_sharded,
        snapshot_scenario,
    )
    from environment.core.shards import is_sharded_folder
    from renderers.chromium import check_assets, chromium_path

    chromium_path()  # set-up problems first, before a run folder is made
    check_assets()
    options = run_options(args)
    if args.resume is not None and is_sharded_folder(Path(args.resume)):
        if args.out or args.scenario or args.set or args.shards is not None or args.seed:
            raise UserInputError(
                "--resume continues a sharded run with its own scenario and shards; drop "
                "the scenario file, --out, --set, --seed and --shards"
            )
        return await execute_sharded(options, Path(args.resume))
    if args.resume is not None:
        if args.shards is not None or args.ray:
            raise UserInputError(
                f"{args.resume} is not a sharded run: --shards and --ray do not apply"
            )
        if args.out or args.scenario or args.set:
            raise UserInputError(
                "--resume continues a run folder with its own scenario and personas; drop "
                "the scenario file, --out and --set"
            )
        return await execute(options, await prepare_resume(Path(args.resume), options))
    if args.scenario is None:
        raise UserInputError(
            "give a scenario file, e.g. python run.py "
            "scenarios/quickstart.yaml (or --resume RUN_DIR)"
        )
    path = Path(args.scenario)
    if await asyncio.to_thread(path.is_dir):  # a run folder: its scenario and personas, again
        if args.set:
            raise UserInputError(
                f"{path} is a run folder: it runs again as it ran; --set changes scenario files"
            )
        loaded = snapshot_scenario(path, PERSONAS_DIR)
    else:
        loaded = load_scenario(path, PERSONAS_DIR, args.set)
    if args.shards is not None:
        if args.ray:
            from environment.core.ray_shards import check_head

            await asyncio.to_thread(check_head, args.ray)  # before a folder is made
        return await execute_sharded(options, await prepare_sharded(options, loaded))
    if args.ray:
        raise UserInputError("--ray runs a sharded run's shards; give --shards K as well")
    if loaded.scenario.variants:
        return await run_variants(args, path, list(loaded.scenario.variants))
    return await execute(options, await prepare_fresh(options, loaded, args.out))


async def run_variants(args: argparse.Namespace, path: Path, names: list[str]) -> int:
    """Each variant on the same seed, one after the other, into sibling folders; then
    their comparison beside them (the first variant is the reference)."""
    from environment.config.scenario import load_scenario
    from environment.core.launch import execute, prepare_fresh
    from environment.core.world import new_run_directory

    # Every variant is checked before the first one runs (and spends).
    loaded = {name: load_scenario(path, PERSONAS_DIR, args.set, variant=name) for name in names}
    first = loaded[names[0]].scenario
    parent = Path(args.out) if args.out else new_run_directory(Path(first.output), first.name)
    options = run_options(args)
    for name in names:
        print(f"variant {name}: {parent / name}")
        prepared = await prepare_fresh(options, loaded[name], str(parent / name))
        status = await execute(options, prepared)
        if status != 0:
            print(f"variant {name} ended with status {status}; the rest were not run")
            return status
    return compare_command([parent / name for name in names], str(parent / "compare.html"))


async def eval_command(args: argparse.Namespace) -> int:
    """Solvers answer a dataset's questions, the pre-grader and a jury grade them, and the
    figures (accuracy per view, the modality gap) go to summary.json and the console."""
    from environment.config.eval_scenario import load_eval_scenario
    from environment.config.scenario import persona_warnings
    from environment.core.eval_run import create_eval_folder, execute_eval, reopen_eval_folder
    from environment.core.launch import checked_endpoints
    from environment.core.world import new_run_directory

    if args.resume is not None:
        if args.dataset or args.scenario or args.out or args.set:
            raise UserInputError(
                "--resume continues an eval folder with its own items and scenario; drop "
                "the dataset, the scenario file, --out and --set"
            )
        store, scenario, personas, items = await reopen_eval_folder(Path(args.resume))
        keys = await checked_endpoints(scenario)
    else:
        if args.dataset is None or args.scenario is None:
            raise UserInputError(
                "give a dataset and an eval scenario: python run.py eval "
                "DATASET scenarios/eval-quickstart.yaml"
            )
        loaded = load_eval_scenario(Path(args.scenario), PERSONAS_DIR, args.set)
        scenario = loaded.scenario
        for warning in persona_warnings(scenario, loaded.personas):
            print(f"warning: {warning}", file=sys.stderr)
        used = [s.persona for s in scenario.solvers] + [g.persona for g in scenario.graders]
        personas = loaded.personas.used_by(used)
        keys = await checked_endpoints(scenario)
        directory = (
            Path(args.out)
            if args.out
            else new_run_directory(Path(scenario.output), "eval-" + scenario.name)
        )
        if directory.exists() and not directory.is_dir():
            raise UserInputError(f"--out {directory} is a file; give a folder for the eval")
        store, items = await create_eval_folder(
            Path(args.dataset), scenario, personas, directory, args.skip_bad
        )
    return await execute_eval(eval_options(args), scenario, personas, store, keys, items)


def eval_options(args: argparse.Namespace) -> EvalOptions:
    from agents.registry import build_eval_participants
    from environment.core.eval_run import EvalOptions

    return EvalOptions(build_eval_participants, quiet=args.quiet, no_cache=args.no_cache)


def validate_command(args: argparse.Namespace) -> int:
    """Checks each scenario (schema, names, roles); says which keys the run will need."""
    from environment.config.eval_scenario import is_eval_scenario
    from environment.config.scenario import load_scenario, persona_warnings, scenario_warnings
    from environment.models.assembly import endpoint_key_envs

    for name in args.scenarios:
        if is_eval_scenario(Path(name)):
            validate_eval(name, args.set)
            continue
        loaded = load_scenario(Path(name), PERSONAS_DIR, args.set)
        scenario = loaded.scenario
        warnings = scenario_warnings(scenario) + persona_warnings(scenario, loaded.personas)
        for variant in scenario.variants:  # each variant's changes, checked like the file
            changed = load_scenario(Path(name), PERSONAS_DIR, args.set, variant=variant)
            warnings += [
                f"variant {variant}: {warning}"
                for warning in persona_warnings(changed.scenario, changed.personas)
            ]
        for warning in warnings:
            print(f"{name}: warning: {warning}")
        endpoints = endpoint_key_envs(scenario)
        needs = sorted({env for env in endpoints.values() if env})
        missing = [env for env in needs if not os.environ.get(env)]
        line = f"{name}: ok — {len(scenario.models)} models ({len(endpoints)} endpoints), "
        line += f"{sum(a.count for a in scenario.agents)} agents"
        if scenario.variants:
            line += f", variants {', '.join(scenario.variants)}"
        if scenario.budget:
            line += f", budget ${scenario.budget.usd:g}"
        if missing:
            line += f"; set {', '.join(missing)} before running"
        print(line)
    return 0


def validate_eval(name: str, overrides: list[str]) -> None:
    from environment.config.eval_scenario import load_eval_scenario
    from environment.config.scenario import persona_warnings
    from environment.models.assembly import endpoint_key_envs

    loaded = load_eval_scenario(Path(name), PERSONAS_DIR, overrides)
    scenario = loaded.scenario
    for warning in persona_warnings(scenario, loaded.personas):
        print(f"{name}: warning: {warning}")
    needs = sorted({env for env in endpoint_key_envs(scenario).values() if env})
    missing = [env for env in needs if not os.environ.get(env)]
    views = sum(len(solver.views) for solver in scenario.solvers)
    line = (
        f"{name}: ok (eval) — {len(scenario.models)} models, {len(scenario.solvers)} solvers "
        f"({views} views), {sum(g.count for g in scenario.graders)} graders"
    )
    if scenario.budget:
        line += f", budget ${scenario.budget.usd:g}"
    if missing:
        line += f"; set {', '.join(missing)} before running"
    print(line)


def personas_command(args: argparse.Namespace) -> int:
    """The personas a scenario can use (or the package's), or one persona's every knob
    with where its value comes from."""
    from environment.config.persona_book import build_persona_book, read_persona_folder
    from environment.config.scenario import load_scenario
    from environment.outputs.persona_listing import describe_persona, list_personas

    if args.scenario:
        book = load_scenario(Path(args.scenario), PERSONAS_DIR, args.set).personas
    elif args.set:
        raise UserInputError("--set changes a scenario: give it with --scenario FILE")
    else:
        book = build_persona_book([read_persona_folder(PERSONAS_DIR, "package")])
    print(describe_persona(book, args.name) if args.name else list_personas(book))
    return 0


def compare_command(run_dirs: list[Path], out: str | None) -> int:
    """Prints the comparison and writes its HTML page (default: beside the runs)."""
    from environment.outputs.compare import write_comparison

    target = Path(out) if out else Path(os.path.commonpath([d.resolve() for d in run_dirs]))
    if target.is_dir():
        target = target / "compare.html"
    try:
        comparison = write_comparison(run_dirs, target)
    except OSError as error:
        raise StoreError(f"cannot write {target} ({error.strerror or error})") from None
    print(comparison.text())
    print(f"comparison page: {target}")
    return 0


def merge_command(run_dir: Path) -> int:
    from environment.core.merge import merge_shards

    outcome = merge_shards(run_dir)
    print(
        f"merged {len(outcome.shards)} shards into {run_dir}: {outcome.accepted} accepted of "
        f"{outcome.records} pairs; {outcome.tables_dropped} tables repeated another shard's "
        f"and went with their {outcome.pairs_dropped} pairs"
    )
    return 0


def push_command(args: argparse.Namespace) -> int:
    from environment.outputs.push import push
    from environment.storage.store import refuse_eval_folder

    source = Path(args.source)
    refuse_eval_folder(source, "push")
    pushed = push(source, args.repo, private=args.private, revision=args.revision)
    if pushed.changed:
        print(
            f"pushed {pushed.files} files to {pushed.repo} ({pushed.revision}): {pushed.commit_url}"
        )
    else:
        print(f"{pushed.repo} ({pushed.revision}) already holds this data: nothing pushed")
    return 0


def replay_command(args: argparse.Namespace) -> int:
    from environment.outputs.console import RunConsole
    from environment.storage.store import iter_events

    directory = Path(args.run_dir)
    console = RunConsole(quiet=args.quiet)
    with console:
        for event in iter_events(directory / "events.jsonl"):
            console.on_event(event)
    console.summary({"run_folder": str(directory)})
    return 0


async def render_command(args: argparse.Namespace) -> int:
    from renderers.chromium import ChromiumRenderer, RenderResult
    from renderers.errors import LatexRenderError
    from renderers.limits import RenderLimits

    if not 0.25 <= args.scale <= 4:
        raise UserInputError(f"--scale must be between 0.25 and 4, got {args.scale}")
    if args.max_rows is not None and args.max_rows < 1:
        raise UserInputError(f"--max-rows must be at least 1, got {args.max_rows}")
    out = Path(args.out)
    if await asyncio.to_thread(lambda: out.exists() and not out.is_dir()):
        raise UserInputError(f"--out {out} is a file; give a folder for the images")
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    names = output_names(args.files)
    pages = min(2, len(set(args.files)))  # one file: one page, one TeX engine

    # A few documents ahead of the pages, not the whole folder translated and held at once.
    ahead = asyncio.Semaphore(2 * pages)

    async def render_one(renderer: ChromiumRenderer, name: str) -> dict[str, object]:
        async with ahead:
            return await render_file(renderer, name)

    async def render_file(renderer: ChromiumRenderer, name: str) -> dict[str, object]:
        entry: dict[str, object] = {
            "file": name,
            "ok": False,
            "partial": False,
            "png": None,
            "width": None,
            "height": None,
            "text": None,
            "warnings": [],
            "error": None,
        }
        source = sources[name]
        if isinstance(source, Exception):
            entry["error"] = {
                "message": f"cannot read file: {source}",
                "line": None,
                "construct": "file",
            }
            return entry
        try:
            result: RenderResult = await renderer.render(source)
        except LatexRenderError as error:
            entry["error"] = {
                "message": error.problem.message,
                "line": error.problem.line,
                "construct": error.problem.construct,
            }
        else:
            png = out / names[name]
            await asyncio.to_thread(png.write_bytes, result.png)
            entry.update(
                ok=True,
                partial=result.partial,
                png=str(png),
                width=result.width,
                height=result.height,
                text=result.text,
                warnings=[asdict(warning) for warning in result.warnings],
            )
        return entry

    def read(name: str) -> str | Exception:
        try:
            return Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            return error

    # Each file read once: for the render, and to know whether TeX engines must start too.
    texts = await asyncio.gather(*(asyncio.to_thread(read, name) for name in args.files))
    sources = dict(zip(args.files, texts, strict=True))
    pictures = any(isinstance(text, str) and "tikz" in text for text in texts)
    failures = 0
    renderer = ChromiumRenderer(
        pages=pages,
        scale=args.scale,
        allow_partial=not args.strict,
        limits=RenderLimits(max_rows=args.max_rows),
    )
    await renderer.start(warm_tikz=pictures)  # TeX starts beside the browser and the renders
    try:
        # Documents render `pages` at a time; results print in the order given.
        pending = [asyncio.ensure_future(render_one(renderer, name)) for name in args.files]
        for task in pending:
            entry = await task
            failures += not entry["ok"]
            if args.json:
                print(json.dumps(entry, ensure_ascii=False), flush=True)
            elif entry["ok"]:
                mark = " partial" if entry["partial"] else ""
                print(f"{entry['file']}: {entry['png']} ({entry['width']}×{entry['height']}){mark}")
            else:
                error_info = entry["error"]
                assert isinstance(error_info, dict)
                line = f":{error_info['line']}" if error_info["line"] else ""
                print(f"{entry['file']}{line}: {error_info['message']} ({error_info['construct']})")
    finally:
        await renderer.close()
    return 1 if failures else 0


def output_names(files: list[str]) -> dict[str, str]:
    """One PNG name per input: its stem, or its path's parts where stems collide."""
    stems: dict[str, int] = {}
    for name in dict.fromkeys(files):
        stems[Path(name).stem] = stems.get(Path(name).stem, 0) + 1
    names: dict[str, str] = {}
    taken: set[str] = set()
    for name in files:
        if name in names:
            continue
        path = Path(name)
        if stems[path.stem] == 1:
            base = path.stem
        else:
            parts = [part for part in path.with_suffix("").parts if part not in ("/", "..", ".")]
            base = "_".join(parts)
        candidate, number = base, 1
        while candidate in taken:
            number += 1
            candidate = f"{base}-{number}"
        taken.add(candidate)
        names[name] = candidate + ".png"
    return names


def parser() -> argparse.ArgumentParser:

    main = argparse.ArgumentParser(
        prog="run.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = main.add_subparsers(dest="command")
    run = commands.add_parser("run", help="run a scenario (the default)")
    run.add_argument(
        "scenario", nargs="?", help="scenario YAML file, or a run folder to run its scenario again"
    )
    run.add_argument("--out", help="run folder (default: <output>/<name>-<timestamp>)")
    run.add_argument("--target", type=int, help="accepted QA pairs to reach")
    run.add_argument("--seed", type=int, help="override the scenario seed")
    run.add_argument("--quiet", action="store_true", help="plain log lines, no live view")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a scenario key, persona knobs included (personas.NAME.behaviour."
        "false_accept=0.2); repeatable",
    )
    run.add_argument("--resume", metavar="RUN_DIR", help="finish a stopped or killed run")
    run.add_argument(
        "--no-cache", action="store_true", help="ask real models again instead of reusing answers"
    )
    run.add_argument(
        "--shards",
        type=int,
        metavar="K",
        help="split the run into K shards, each a process over its own part of the work, "
        "merged into the run folder at the end",
    )
    run.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run the shards as Ray actors: the head's HOST:PORT, 'auto', or 'local' (a "
        "cluster on this machine); needs modswap[ray]",
    )
    run.add_argument("--shard-report", action="store_true", help=argparse.SUPPRESS)
    merge = commands.add_parser("merge", help="merge a sharded run's shards into its folder")
    merge.add_argument("run_dir")
    pusher = commands.add_parser(
        "push", help="upload a run (as its hf export) or an hf export to the Hugging Face Hub"
    )
    pusher.add_argument("source", metavar="RUN_OR_EXPORT")
    pusher.add_argument("--repo", required=True, metavar="OWNER/NAME", help="dataset repo")
    pusher.add_argument("--private", action="store_true", help="create the repo private")
    pusher.add_argument("--revision", help="branch to push to (default: main)")
    validate = commands.add_parser("validate", help="check scenario files without running")
    validate.add_argument("scenarios", nargs="+")
    validate.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    personas = commands.add_parser(
        "personas", help="list personas, or show one's knobs and where each value comes from"
    )
    personas.add_argument("name", nargs="?")
    personas.add_argument("--scenario", help="include the personas this scenario adds")
    personas.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    replay = commands.add_parser("replay", help="replay a run's events in the console")
    replay.add_argument("run_dir")
    replay.add_argument("--quiet", action="store_true")
    exporter = commands.add_parser("export", help="write fine-tuning files from a run")
    exporter.add_argument("run_dir")
    # export() names the formats when this is wrong: the parser stays free of the exporter.
    exporter.add_argument("--format", required=True, help="hf, llava, sharegpt, internvl or swift")
    exporter.add_argument("--out", required=True)
    exporter.add_argument(
        "--split", default="train=1.0", help="by table, e.g. train=0.8,validation=0.1,test=0.1"
    )
    exporter.add_argument("--include-rejected", action="store_true")
    exporter.add_argument("--skip-corrupt", action="store_true")
    exporter.add_argument("--force", action="store_true", help="write into a non-empty folder")
    exporter.add_argument("--seed", type=int, help="split seed (default: the run's)")
    exporter.add_argument(
        "--difficulty",
        metavar="LABELS",
        help="only pairs with these labels, e.g. modality_hard,hard (scenario key difficulty)",
    )
    report = commands.add_parser("report", help="write a run's HTML report (gallery, figures)")
    report.add_argument("run_dir")
    report.add_argument("--out", help="HTML file (default: RUN_DIR/report.html)")
    report.add_argument(
        "--skip-corrupt", action="store_true", help="leave out lines that do not read"
    )
    compare = commands.add_parser(
        "compare", help="runs side by side: what a change did, and whether it is chance"
    )
    compare.add_argument(
        "run_dirs", nargs="+", metavar="RUN_DIR", help="the first is the reference"
    )
    compare.add_argument("--out", help="HTML file (default: compare.html beside the runs)")
    study = commands.add_parser(
        "jury-study", help="a run's votes decided again under every rule and jury subset"
    )
    study.add_argument("run_dir")
    show = commands.add_parser("show", help="one item's story: drafts, renders, votes")
    show.add_argument("run_dir")
    show.add_argument("item_id", help="i00001 (inspiration), i00001-t0 (table), i00001-t0-q0")
    show.add_argument(
        "--skip-corrupt", action="store_true", help="leave out lines that do not read"
    )
    evaluation = commands.add_parser(
        "eval", help="solvers answer a dataset from the table's image and LaTeX; a jury grades"
    )
    evaluation.add_argument(
        "dataset", nargs="?", help="a run folder, an export folder, or parquet (HF layout)"
    )
    evaluation.add_argument("scenario", nargs="?", help="eval scenario YAML (solvers, graders)")
    evaluation.add_argument("--out", help="eval folder (default: <output>/eval-<name>-<time>)")
    evaluation.add_argument("--resume", metavar="EVAL_DIR", help="finish a stopped or killed eval")
    evaluation.add_argument(
        "--skip-bad", action="store_true", help="leave out rows that cannot be used, counted"
    )
    evaluation.add_argument("--quiet", action="store_true", help="plain log lines, no live view")
    evaluation.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    evaluation.add_argument("--no-cache", action="store_true")
    render = commands.add_parser("render", help="render LaTeX files to PNG")
    render.add_argument("files", nargs="+")
    render.add_argument("--out", required=True)
    render.add_argument("--json", action="store_true")
    render.add_argument("--scale", type=float, default=2.0)
    render.add_argument(
        "--strict",
        action="store_true",
        help="refuse partial renders (content dropped, a picture not drawn) instead of "
        "writing them with their warnings",
    )
    render.add_argument(
        "--max-rows", type=int, default=None, help="refuse tables longer than this (default: any)"
    )
    return main


def main(argv: list[str] | None = None) -> int:
    from renderers.errors import RendererUnavailable

    def refuse_eval_folder(directory: Path, command: str) -> None:
        from environment.storage.store import refuse_eval_folder as refuse

        refuse(directory, command)

    def is_eval_folder(directory: Path) -> bool:
        from environment.storage.store import is_eval_folder as is_eval

        return is_eval(directory)

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in (
        "run",
        "replay",
        "render",
        "report",
        "export",
        "validate",
        "personas",
        "show",
        "compare",
        "jury-study",
        "eval",
        "merge",
        "push",
        "-h",
        "--help",
    ):
        argv.insert(0, "run")
    args = parser().parse_args(argv)
    try:
        if args.command == "replay":
            return replay_command(args)
        if args.command == "validate":
            return validate_command(args)
        if args.command == "personas":
            return personas_command(args)
        if args.command == "render":
            return asyncio.run(render_command(args))
        if args.command == "export":
            from environment.outputs.export import export

            refuse_eval_folder(Path(args.run_dir), "export")
            try:
                summary = export(
                    Path(args.run_dir),
                    args.format,
                    Path(args.out),
                    split=args.split,
                    include_rejected=args.include_rejected,
                    skip_corrupt=args.skip_corrupt,
                    force=args.force,
                    seed=args.seed,
                    difficulty=args.difficulty,
                )
            except OSError as error:  # a full or failing disk: files already written are whole
                raise StoreError(
                    f"cannot write the export to {args.out} ({error.strerror or error})"
                ) from None
            counts = ", ".join(f"{name} {count}" for name, count in summary.written.items())
            print(f"export ({args.format}) to {summary.out}: {counts} pairs")
            if summary.skipped_lines:
                print(f"skipped corrupt lines of records.jsonl: {summary.skipped_lines}")
            return 0
        if args.command == "report":
            from environment.outputs.report import write_report

            if args.out and Path(args.out).is_dir():
                raise UserInputError(f"--out {args.out} is a folder; give the report's file name")
            try:
                if is_eval_folder(Path(args.run_dir)):
                    from environment.outputs.eval_report import write_eval_report

                    lines: list[int] = []
                    target, _ = write_eval_report(
                        Path(args.run_dir),
                        Path(args.out) if args.out else None,
                        lines if args.skip_corrupt else None,
                    )
                    skipped = len(lines)
                else:
                    target, skipped = write_report(
                        Path(args.run_dir), Path(args.out) if args.out else None, args.skip_corrupt
                    )
            except OSError as error:  # nothing was renamed into place: no partial report
                raise StoreError(f"cannot write the report ({error.strerror or error})") from None
            print(f"report: {target}")
            if skipped:
                print(f"skipped corrupt lines: {skipped}")
            return 0
        if args.command == "show":
            from environment.outputs.story import item_story

            refuse_eval_folder(Path(args.run_dir), "show")
            print(item_story(Path(args.run_dir), args.item_id, args.skip_corrupt))
            return 0
        if args.command == "jury-study":
            from environment.outputs.jury_study import study_run

            refuse_eval_folder(Path(args.run_dir), "jury-study")
            print(study_run(Path(args.run_dir)).text())
            return 0
        if args.command == "compare":
            for directory in args.run_dirs:
                refuse_eval_folder(Path(directory), "compare")
            return compare_command([Path(d) for d in args.run_dirs], args.out)
        if args.command == "run":
            return asyncio.run(run_command(args))
        if args.command == "eval":
            return asyncio.run(eval_command(args))
        if args.command == "merge":
            return merge_command(Path(args.run_dir))
        if args.command == "push":
            return push_command(args)
        parser().print_help()
        return EXIT_USER_ERROR
    except RendererUnavailable as error:  # the renderer's own set-up error, outside a run
        print(f"error: {error}", file=sys.stderr)
        return RenderError.exit_status
    except ModswapError as error:  # the one place an error becomes a line and a status
        print(f"error: {error}", file=sys.stderr)
        return error.exit_status
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
