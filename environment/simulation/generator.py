"""Simulated table generator: complete LaTeX documents of realistic tables, and their repair.

Structure follows the recipe and the persona (booktabs or ruled grids, grouped headers,
`\\multirow` groups, stripes and highlights, totals, footnotes, math); faults follow the
persona's rates: output the parser rejects, or LaTeX the renderer rejects.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass

from environment.config.personas import Behaviour
from environment.core.messages import Recipe
from environment.simulation.topic_bank import DOMAINS_BY_NAME, Domain, Metric

YEARS = ("2022", "2023", "2024")


@dataclass
class Column:
    header: str
    group: str | None
    metric: Metric | None
    values: list[str]
    numbers: list[float]
    align: str


def _number(rng: random.Random, metric: Metric, base: float | None = None) -> float:
    if base is None:
        position = min(1.0, max(0.0, rng.betavariate(2.2, 2.2)))
        return metric.low + position * (metric.high - metric.low)
    drift = rng.gauss(1.04, 0.07)
    value = base * drift if base > 0 else base + rng.gauss(0.5, 1.5)
    return min(metric.high * 1.15, max(metric.low, value))


def _fmt(value: float, decimals: int) -> str:
    rounded = round(value, decimals)
    if decimals == 0:
        integer = int(rounded)
        return f"{integer:,}".replace(",", "{,}") if abs(integer) >= 10000 else str(integer)
    return f"{rounded:.{decimals}f}"


def _header(metric: Metric) -> str:
    return f"{metric.name} ({metric.unit})" if metric.unit else metric.name


def design_table(
    domain: Domain, topic: str, recipe: Recipe, behaviour: Behaviour, rng: random.Random
) -> str:
    """One complete, clean LaTeX document."""
    recipe = _with_own_taste(recipe, behaviour, rng)
    low, high = behaviour.rows
    rows = max(5, min(25, recipe.rows if low <= recipe.rows <= high else rng.randint(low, high)))
    rows = min(rows, len(domain.entities))
    if not recipe.row_groups:
        entities = [entity.name for entity in rng.sample(list(domain.entities), rows)]
        groups: list[str] | None = None
    elif domain.places_rows:
        entities, groups = _rows_in_their_groups(domain, rows, rng)
    else:
        entities, groups = _rows_in_random_groups(domain, rows, rng)
    # The topic's subject decides what is measured: its lead metric always, then others of
    # its own, so a caption about generation costs draws costs. A topic from elsewhere (a
    # real inspirer's) may draw any of the domain's.
    wanted = 2 if recipe.grouped_header else rng.randint(2, 3 + round(behaviour.complexity))
    subject = domain.subject_of(topic)
    if subject is None:
        metrics = rng.sample(list(domain.metrics), min(wanted, len(domain.metrics)))
    else:
        lead, *others = domain.metrics_of(subject)
        metrics = [lead, *rng.sample(others, min(wanted, len(others) + 1) - 1)]
    columns: list[Column] = []
    for metric in metrics:
        if recipe.grouped_header:
            years = YEARS[-2:]
            first = [_number(rng, metric) for _ in entities]
            second = [_number(rng, metric, base) for base in first]
            for year, numbers in zip(years, (first, second), strict=True):
                columns.append(
                    Column(
                        year,
                        _header(metric),
                        metric,
                        [_fmt(n, metric.decimals) for n in numbers],
                        [round(n, metric.decimals) for n in numbers],
                        "r",
                    )
                )
        else:
            numbers = [_number(rng, metric) for _ in entities]
            columns.append(
                Column(
                    _header(metric),
                    None,
                    metric,
                    [_fmt(n, metric.decimals) for n in numbers],
                    [round(n, metric.decimals) for n in numbers],
                    "r",
                )
            )
    uncertainty_column = None
    if recipe.uncertainty and columns:
        uncertainty_column = rng.randrange(len(columns))
        target = columns[uncertainty_column]
        decimals = max(1, target.metric.decimals if target.metric else 1)
        target.values = [
            f"${_fmt(n, decimals)} \\pm {_fmt(abs(n) * rng.uniform(0.02, 0.08), decimals)}$"
            for n in target.numbers
        ]
    attribute: list[str] | None = None
    if rng.random() < 0.4 + 0.4 * behaviour.complexity:
        attribute = [rng.choice(domain.attributes) for _ in entities]
    return _write_document(
        domain, topic, recipe, behaviour, rng, entities, groups, columns, attribute
    )


def _with_own_taste(recipe: Recipe, behaviour: Behaviour, rng: random.Random) -> Recipe:
    """The inspirer's recipe as this generator follows it: a colourful one (colour_use)
    keeps the stripes and highlights asked for and adds some unasked, a plain one drops
    some; likewise ± notation (math_use). So a generator persona's taste shows in its
    tables, not only the inspirer's."""

    def kept_or_added(asked: bool, taste: float) -> bool:
        keep, add = rng.random() < 0.5 + taste / 2, rng.random() < taste / 2
        return keep if asked else add

    striped = kept_or_added(recipe.striped, behaviour.colour_use)
    highlighted = kept_or_added(recipe.highlights > 0, behaviour.colour_use)
    return recipe.model_copy(
        update={
            "striped": striped,
            "highlights": (recipe.highlights or 2) if highlighted else 0,
            "uncertainty": kept_or_added(recipe.uncertainty, behaviour.math_use),
        }
    )


def _rows_in_random_groups(
    domain: Domain, rows: int, rng: random.Random
) -> tuple[list[str], list[str]]:
    """Rows put in two or three of the domain's groups at random (its rows are invented:
    any company may be in any sector), every group with two rows or more."""
    entities = [entity.name for entity in rng.sample(list(domain.entities), rows)]
    group_names = rng.sample(list(domain.groups), min(len(domain.groups), rng.randint(2, 3)))
    groups = sorted((rng.choice(group_names) for _ in entities), key=group_names.index)
    # Every group needs two rows or more to be a real \multirow group.
    for name in group_names:
        if groups.count(name) == 1:
            groups[groups.index(name)] = group_names[0]
    order = sorted(range(rows), key=lambda i: group_names.index(groups[i]))
    return [entities[i] for i in order], [groups[i] for i in order]


def _rows_in_their_groups(
    domain: Domain, rows: int, rng: random.Random
) -> tuple[list[str], list[str]]:
    """Rows from two or three of the domain's groups, each entity in its own group (a port
    on its corridor), every group with two rows or more, groups in the bank's order."""
    members: dict[str, list[str]] = {}
    for entity in domain.entities:
        if entity.group is not None:
            members.setdefault(entity.group, []).append(entity.name)
    eligible = [group for group in domain.groups if len(members.get(group, [])) >= 2]
    chosen = rng.sample(eligible, min(len(eligible), rng.randint(2, 3)))
    chosen.sort(key=domain.groups.index)
    picked = {name for group in chosen for name in rng.sample(members[group], 2)}
    rest = [name for group in chosen for name in members[group] if name not in picked]
    picked.update(rng.sample(rest, max(0, min(rows - len(picked), len(rest)))))
    kept = [(group, name) for group in chosen for name in members[group] if name in picked]
    return [name for _, name in kept], [group for group, _ in kept]


def _write_document(
    domain: Domain,
    topic: str,
    recipe: Recipe,
    behaviour: Behaviour,
    rng: random.Random,
    entities: list[str],
    groups: list[str] | None,
    columns: list[Column],
    attribute: list[str] | None,
) -> str:
    ruled = recipe.ruled_grid
    lead = (["l"] if groups else []) + ["l"] + (["c"] if attribute else [])
    spec_parts = lead + [c.align for c in columns]
    colspec = ("|" + "|".join(spec_parts) + "|") if ruled else "".join(spec_parts)
    top, mid, bottom = (
        (r"\hline", r"\hline", r"\hline") if ruled else (r"\toprule", r"\midrule", r"\bottomrule")
    )
    lead_headers = (
        ([domain.group_label] if groups else [])
        + [domain.entity_label]
        + ([domain.attribute_label] if attribute else [])
    )
    lines: list[str] = []
    if recipe.grouped_header:
        first: list[str] = []
        for header in lead_headers:
            first.append(rf"\multirow{{2}}{{*}}{{\textbf{{{header}}}}}")
        index = 0
        cmid: list[str] = []
        while index < len(columns):
            group = columns[index].group or ""
            span = sum(1 for c in columns[index:] if c.group == group and c.group is not None)
            span = max(1, span)
            align = "|c|" if ruled else "c"
            first.append(rf"\multicolumn{{{span}}}{{{align}}}{{\textbf{{{group}}}}}")
            start = len(lead_headers) + index + 1
            cmid.append(
                rf"\cmidrule(lr){{{start}-{start + span - 1}}}"
                if not ruled
                else rf"\cline{{{start}-{start + span - 1}}}"
            )
            index += span
        lines.append(" & ".join(first) + r" \\")
        lines.append(" ".join(cmid))
        lines.append(
            " & ".join([""] * len(lead_headers) + [rf"\textbf{{{c.header}}}" for c in columns])
            + r" \\"
        )
    else:
        lines.append(
            " & ".join([rf"\textbf{{{h}}}" for h in lead_headers + [c.header for c in columns]])
            + r" \\"
        )
    lines.append(mid)
    highlight_rows = set(rng.sample(range(len(entities)), min(recipe.highlights, len(entities))))
    highlight_colour = rng.choice(["yellow!30", "orange!25", "green!15", "cyan!15", "hl"])
    for r, entity in enumerate(entities):
        cells: list[str] = []
        if groups:
            first_of_group = r == 0 or groups[r - 1] != groups[r]
            size = groups.count(groups[r])
            cells.append(rf"\multirow{{{size}}}{{*}}{{{groups[r]}}}" if first_of_group else "")
        cells.append(entity)
        if attribute:
            cells.append(attribute[r])
        for column in columns:
            cells.append(column.values[r])
        row = " & ".join(cells) + r" \\"
        if r in highlight_rows:
            if groups:
                # Highlight data cells only: a row colour would paint over the group cell.
                start = 1
                cells = cells[:start] + [
                    rf"\cellcolor{{{highlight_colour}}}{c}" for c in cells[start:]
                ]
                row = " & ".join(cells) + r" \\"
            else:
                row = rf"\rowcolor{{{highlight_colour}}} " + row
        lines.append(row)
        if groups and r + 1 < len(entities) and groups[r + 1] != groups[r]:
            lines.append(
                rf"\cmidrule(lr){{1-{len(lead_headers) + len(columns)}}}"
                if not ruled
                else r"\hline"
            )
        elif ruled and r + 1 < len(entities):
            lines.append(r"\hline")
    if recipe.totals_row:
        lines.append(mid)
        kind = "Total" if rng.random() < 0.5 else "Average"
        cells = [rf"\textbf{{{kind}}}", *[""] * (len(lead_headers) - 1)]
        for column in columns:
            decimals = column.metric.decimals if column.metric else 1
            value = (
                sum(column.numbers)
                if kind == "Total"
                else sum(column.numbers) / len(column.numbers)
            )
            if kind == "Average":
                decimals = max(1, decimals)
            cells.append(rf"\textbf{{{_fmt(value, decimals)}}}")
        lines.append(" & ".join(cells) + r" \\")
    body = "\n".join(lines)
    packages = [
        r"\usepackage{booktabs}",
        r"\usepackage{multirow}",
        r"\usepackage[table]{xcolor}",
        r"\usepackage[margin=2cm]{geometry}",
    ]
    preamble_extra = []
    if highlight_colour == "hl":
        preamble_extra.append(
            rf"\definecolor{{hl}}{{HTML}}{{{rng.choice(['FFF2CC', 'E2F0D9', 'DDEBF7'])}}}"
        )
    stripe = ""
    if recipe.striped:
        stripe = rf"\rowcolors{{{3 if recipe.grouped_header else 2}}}{{gray!10}}{{white}}" + "\n"
    class_size = rng.choice(["10pt", "11pt", "12pt"])
    footnote = ""
    if recipe.footnote:
        notes = [
            f"Source: synthetic {domain.name} survey, {rng.choice(YEARS)}.",
            "Values rounded; $\\pm$ marks one standard deviation."
            if recipe.uncertainty
            else "Values rounded to the precision shown.",
            "Highlighted rows mark entries flagged for review." if highlight_rows else "",
        ]
        footnote = (
            "\n\\par\\smallskip\n{\\footnotesize \\textit{Note:} "
            + " ".join(n for n in notes if n)
            + "}"
        )
    font = "\\small\n" if rng.random() < behaviour.complexity * 0.5 else ""
    tabular = f"\\begin{{tabular}}{{{colspec}}}\n{top}\n{body}\n{bottom}\n\\end{{tabular}}"
    size_pt = int(class_size[:2]) * (0.9 if font else 1.0)
    widest = [
        max(
            len(_visible(line.split(" & ")[i])) if i < len(line.split(" & ")) else 0
            for line in lines
            if " & " in line
        )
        for i in range(len(spec_parts))
    ]
    # Like a careful LLM: a table wider than the text block is scaled to fit.
    if estimated_width_pt(widest, size_pt) > 1.1 * TEXT_WIDTH_PT:
        tabular = fit_to_width(tabular)
    return (
        f"\\documentclass[{class_size}]{{article}}\n"
        + "\n".join(packages)
        + "\n"
        + "".join(line + "\n" for line in preamble_extra)
        + "\\pagestyle{empty}\n\\begin{document}\n\\begin{table}[ht]\n\\centering\n"
        + font
        + f"\\caption{{{topic}}}\n"
        + stripe
        + tabular
        + footnote
        + "\n\\end{table}\n\\end{document}\n"
    )


TEXT_WIDTH_PT = 8.5 * 72.27 - 2 * 2 * 72.27 / 2.54  # letter paper, geometry margin=2cm


def _visible(cell: str) -> str:
    """Roughly the characters a cell prints."""
    cell = re.sub(r"\\(multirow|multicolumn)\{[^}]*\}\{[^}]*\}", "", cell)
    cell = re.sub(r"\\[A-Za-z]+(\{[^}]*\})?", lambda m: m.group(1) or "", cell)
    return re.sub(r"[{}$\\]", "", cell).strip()


def estimated_width_pt(widest_chars: list[int], size_pt: float) -> float:
    return sum(chars * 0.45 * size_pt + 0.6 * size_pt for chars in widest_chars)


def fit_to_width(tabular: str) -> str:
    return "\\resizebox{\\textwidth}{!}{%\n" + tabular + "%\n}"


def fit_to_width_in_document(document: str) -> str:
    start, end = document.find("\\begin{tabular}"), document.find("\\end{tabular}")
    if start < 0 or end < 0:
        return document
    end += len("\\end{tabular}")
    return document[:start] + fit_to_width(document[start:end]) + document[end:]


def break_latex(document: str, rng: random.Random) -> str:
    """Injects one fault the renderer rejects, of the kinds LLMs make."""
    lines = document.split("\n")
    body_rows = [i for i, line in enumerate(lines) if line.endswith(r"\\") and "&" in line]
    choice = rng.randrange(4)
    if choice == 0 and body_rows:
        index = rng.choice(body_rows[1:] or body_rows)
        lines[index] = lines[index][:-2].rstrip() + r" & 0.0 \\"  # extra cell
    elif choice == 1:
        index = next(i for i, line in enumerate(lines) if line.startswith(r"\caption"))
        lines[index] = lines[index].rstrip("}")  # unbalanced brace
    elif choice == 2:
        return document.replace(r"\begin{tabular}", r"\begin{tabularr}").replace(
            r"\end{tabular}", r"\end{tabularr}"
        )
    else:
        return document.replace(r"\end{tabular}", r"\end{tabluar}")
    return "\n".join(lines)


class GeneratorMemory:
    """What a generator model remembers of its own drafts, so a repair can fix its fault.
    Only the latest drafts: a repair comes within a few rounds of its draft, and a long run
    must not keep every table it wrote."""

    KEPT = 4096  # drafts; above what max_inflight × tables_per_call can have open

    def __init__(self) -> None:
        self._clean: dict[str, str] = {}

    @staticmethod
    def _key(document: str) -> str:
        return hashlib.sha256(document.strip().encode("utf-8")).hexdigest()

    def remember(self, written: str, clean: str) -> None:
        self._clean[self._key(written)] = clean
        if len(self._clean) > self.KEPT:
            del self._clean[next(iter(self._clean))]  # the oldest draft

    def clean_version(self, written: str) -> str | None:
        return self._clean.get(self._key(written))


def domain_for(name: str) -> Domain:
    return DOMAINS_BY_NAME.get(name) or next(iter(DOMAINS_BY_NAME.values()))
