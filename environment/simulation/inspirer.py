"""Simulated inspirer: composes topics from the subject bank and picks a layout recipe."""

from __future__ import annotations

import random
from typing import Any

from environment.config.personas import Behaviour
from environment.core.messages import Recipe
from environment.simulation.topic_bank import DOMAINS


def inspire(topics_wanted: int, behaviour: Behaviour, rng: random.Random) -> dict[str, Any]:
    domain = rng.choice(DOMAINS)
    pairs = [(s, c) for s in domain.subjects for c in domain.contexts]
    chosen = rng.sample(pairs, min(topics_wanted, len(pairs)))
    topics = [f"{subject.name} {context}" for subject, context in chosen]
    complexity = behaviour.complexity
    low, high = behaviour.rows
    recipe = Recipe(
        rows=rng.randint(max(5, low), max(5, min(25, high))),
        grouped_header=rng.random() < 0.25 + 0.4 * complexity,
        row_groups=rng.random() < 0.2 + 0.4 * complexity,
        striped=rng.random() < behaviour.colour_use,
        highlights=rng.choice([0, 2, 3]) if rng.random() < behaviour.colour_use else 0,
        totals_row=rng.random() < 0.3,
        footnote=rng.random() < 0.5,
        ruled_grid=rng.random() < 0.25,
        uncertainty=rng.random() < behaviour.math_use,
    )
    return {"domain": domain.name, "topics": topics, "recipe": recipe.model_dump()}
