"""Content-addressed response cache on disk, so a resumed or repeated run does not pay twice.

The key is everything that decides an answer: the model's identity (endpoint, model name,
sampling settings), the asking agent, the request id and attempt (stable for a seed), and
every message — images by the hash of their bytes. Two jurors on one model get two keys.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

from pydantic import ValidationError

from environment.models.images import ImageOutsideRun, RunImages
from environment.models.protocol import Completion, ModelRequest
from environment.storage.store import write_atomic


class ResponseCache:
    def __init__(self, directory: Path, images: RunImages) -> None:
        self.directory = directory
        self.images = images
        self.hits = 0

    async def key(self, identity: str, request: ModelRequest) -> str:
        messages = []
        for message in request.messages:
            image = None
            if message.image is not None:
                try:
                    image = await self.images.digest(message.image)
                except (OSError, ImageOutsideRun):
                    image = "missing:" + message.image
            entry: list[object] = [message.role, message.content, image]
            if message.tool_calls or message.tool_call_id is not None:  # old keys stay valid
                entry.append([call.model_dump() for call in message.tool_calls])
                entry.append(message.tool_call_id)
            messages.append(entry)
        parts: list[object] = [identity, request.agent, request.request_id, request.attempt]
        parts.append(messages)
        if request.tools:
            parts.append([tool.model_dump() for tool in request.tools])
            parts.append(request.tool_choice)
        material = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(material.encode("utf-8")).hexdigest()

    def _horizon_path(self, scenario_key: str) -> Path:
        return self.directory / "horizons" / f"{scenario_key}.json"

    def horizon(self, scenario_key: str) -> int | None:
        """Where an earlier run of this exact scenario stopped at its target: the seq of the
        last inspiration it committed."""
        try:
            value = json.loads(self._horizon_path(scenario_key).read_text())["last_committed"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return value if isinstance(value, int) and value >= 0 else None

    def remember_horizon(self, scenario_key: str, last_committed: int) -> None:
        path = self._horizon_path(scenario_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps({"last_committed": last_committed}).encode())

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    async def get(self, key: str) -> Completion | None:
        path = self._path(key)
        try:
            raw = await asyncio.to_thread(path.read_bytes)
            completion = Completion.model_validate_json(raw)
        except (OSError, ValidationError):  # absent, or torn by a crash: ask again
            return None
        self.hits += 1
        return completion.model_copy(update={"cached": True, "cost_usd": 0.0})

    async def put(self, key: str, completion: Completion) -> None:
        path = self._path(key)
        data = completion.model_dump_json().encode("utf-8")

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data)

        await asyncio.to_thread(write)
