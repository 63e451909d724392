"""The one base class for every value the project passes around: bus messages, model
contracts, scenario and persona settings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """Immutable once built, and a misspelt field name is an error rather than ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")
