"""Figures of a run, computed from its events: live in the console and again on replay."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunStats:
    target: int = 0
    accepted: int = 0
    records: int = 0
    tables_drafted: int = 0
    tables_rendered: int = 0
    render_failures: int = 0
    repairs: int = 0
    abandoned: int = 0
    rejected_outputs: int = 0
    votes: int = 0
    duplicate_tables: int = 0
    duplicate_questions: int = 0
    stop_reason: str | None = None
    model_retries: int = 0
    model_failures: int = 0
    models_benched: int = 0
    by_generator: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    by_questioner: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    by_kind: Counter[str] = field(default_factory=Counter)
    jury: Counter[str] = field(default_factory=Counter)  # tp fp fn tn against the oracle

    def observe(self, event: dict[str, Any]) -> None:
        kind, data = event["kind"], event["data"]
        if kind == "RunStarted":
            self.target = data["target"]
            self.accepted = data["accepted_so_far"]
        elif kind == "TableDrafted":
            if data["attempt"] == 1:
                self.tables_drafted += 1
            else:
                self.repairs += 1
        elif kind == "TableRendered":
            self.tables_rendered += 1
        elif kind == "RenderFailed":
            self.render_failures += 1
        elif kind == "TableAbandoned":
            self.abandoned += 1
        elif kind == "OutputRejected":
            self.rejected_outputs += 1
        elif kind == "VotesCast":
            self.votes += len(data["votes"])
        elif kind == "GradesCast":
            self.votes += len(data["grades"])
        elif kind == "ItemsCommitted":  # an evaluation: graded items are its progress
            self.accepted = data["graded_total"]
        elif kind == "InspirationCommitted":
            self.accepted = data["accepted_total"]
            for record in data["records"]:
                self._count_record(record)
        elif kind == "DuplicatesDropped":
            if data["kind"] == "table":
                self.duplicate_tables += data["count"]
            else:
                self.duplicate_questions += data["count"]
        elif kind == "RunStopping":
            self.stop_reason = data["reason"]
        elif kind == "ModelIncident":
            if data["kind"] == "retry":
                self.model_retries += 1
            elif data["kind"] == "failed":
                self.model_failures += 1
            elif data["kind"] == "benched":
                self.models_benched += 1

    def _count_record(self, record: dict[str, Any]) -> None:
        self.records += 1
        accepted = bool(record["accepted"])
        outcome = "accepted" if accepted else "rejected"
        self.by_generator[record["generator"]][outcome] += 1
        self.by_questioner[record["questioner"]][outcome] += 1
        if accepted:
            self.by_kind[record["kind"]] += 1
        truth = record.get("ground_truth")
        if truth is not None:
            self.jury[("t" if accepted == truth else "f") + ("p" if accepted else "n")] += 1

    @property
    def precision(self) -> float | None:
        predicted = self.jury["tp"] + self.jury["fp"]
        return self.jury["tp"] / predicted if predicted else None

    @property
    def recall(self) -> float | None:
        actual = self.jury["tp"] + self.jury["fn"]
        return self.jury["tp"] / actual if actual else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "records": self.records,
            "target": self.target,
            "tables_drafted": self.tables_drafted,
            "tables_rendered": self.tables_rendered,
            "render_failures": self.render_failures,
            "repairs": self.repairs,
            "abandoned": self.abandoned,
            "rejected_outputs": self.rejected_outputs,
            "votes": self.votes,
            "duplicate_tables_dropped": self.duplicate_tables,
            "duplicate_questions_dropped": self.duplicate_questions,
            "stop_reason": self.stop_reason,
            "model_retries": self.model_retries,
            "model_call_failures": self.model_failures,
            "models_benched": self.models_benched,
            "jury_precision": self.precision,
            "jury_recall": self.recall,
        }
