"""API keys: read from the environment only, and scrubbed from anything a run writes or shows."""

from __future__ import annotations

import os
from collections.abc import Mapping

from environment.errors import UserInputError

REDACTED = "[redacted]"


class Redactor:
    """Replaces every known secret value in a text. Short values are ignored: redacting a
    one-letter 'key' would shred every text it touches."""

    def __init__(self, secrets: set[str] | None = None) -> None:
        self.secrets = {s for s in (secrets or set()) if len(s) >= 6}

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def read_api_keys(
    key_envs: Mapping[str, str | None], environ: Mapping[str, str] | None = None
) -> dict[str, str | None]:
    """Model name → its key (None when the model declares no api_key_env)."""
    environ = os.environ if environ is None else environ
    keys: dict[str, str | None] = {}
    for model, variable in key_envs.items():
        if variable is None:
            keys[model] = None
            continue
        value = environ.get(variable, "").strip()
        if not value:
            raise UserInputError(
                f"models.{model}.api_key_env: environment variable {variable} is not set; "
                f"export {variable}=… before the run (or drop api_key_env for a local server "
                "that needs no key)"
            )
        keys[model] = value
    return keys
