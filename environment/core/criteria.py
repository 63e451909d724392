"""The jury's criteria, in the order a juror checks them (the reference pipeline's list).

Prompts quote them, simulated jurors and the oracle name the first that fails.
"""

JURY_CRITERIA: tuple[str, ...] = (
    "a table is present",
    "the question is on one of the topics",
    "the question is clear",
    "the answer is valid",
    "the answer is grounded only in the table",
)
