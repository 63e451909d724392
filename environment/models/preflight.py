"""Before a run folder exists: is each endpoint there, does it take the key, does it serve
the model? One free `GET {base_url}/models` per endpoint turns the commonest first-run
mistakes (server not started, wrong port, refused key) into one line naming the scenario
key, instead of a run that retries for minutes."""

from __future__ import annotations

import difflib
import json

import aiohttp

from environment.config.scenario import OpenAIModelSettings
from environment.errors import UserInputError
from environment.models.endpoint import server_says
from environment.models.secrets import Redactor


async def preflight(
    name: str, settings: OpenAIModelSettings, api_key: str | None, redact: Redactor
) -> str | None:
    """An unreachable server or a refused key is a UserInputError; a model name missing
    from the list is a warning returned (some servers, llama.cpp's for one, answer to any
    name)."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    address = settings.urls[0]  # one endpoint: a model's several are checked one by one
    url = address + "/models"
    try:
        async with (
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=min(15.0, settings.timeout_s))
            ) as session,
            session.get(url, headers=headers) as response,
        ):
            status = response.status
            raw = await response.read()
    except (TimeoutError, aiohttp.ClientError) as error:
        reason = redact(str(error) or type(error).__name__)
        raise UserInputError(
            f"models.{name}.base_url: cannot reach {address} ({reason}); is the "
            "server running and the address right?"
        ) from None
    if status in (401, 403):
        where = f"the key in {settings.api_key_env}" if settings.api_key_env else "no key"
        raise UserInputError(
            f"models.{name}.api_key_env: {address} refused {where} "
            f"(HTTP {status}{redact(server_says(raw))})"
        )
    if status != 200:
        return None  # no model list here: nothing more to check
    try:
        listed = json.loads(raw).get("data", [])
        served = [str(item["id"]) for item in listed if isinstance(item, dict) and "id" in item]
    except (AttributeError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if served and settings.model not in served:
        close = difflib.get_close_matches(settings.model, served, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return (
            f"models.{name}.model: '{settings.model}' is not among the {len(served)} models "
            f"{address} lists{hint}"
        )
    return None
