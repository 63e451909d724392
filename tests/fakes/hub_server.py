"""A small stand-in for the Hugging Face Hub's HTTP API, enough for huggingface_hub to create
a dataset repo, a branch, and commit a folder of regular (non-LFS, non-Xet) files to it.

Set HF_ENDPOINT to its URL and HF_HUB_DISABLE_XET=1. Tokens in `writers` may write to their
namespace; any other token gets 401, a writer outside its namespace 403. Files are kept in
memory per (repo, branch), so a test can read back what arrived; `commits` counts commits.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.openai_server import ServerThread


def git_blob_sha(data: bytes) -> str:
    """The git object id of a file, which huggingface_hub compares for regular files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    private: bool
    branches: dict[str, dict[str, bytes]] = field(default_factory=lambda: {"main": {}})
    heads: dict[str, str] = field(default_factory=lambda: {"main": "0" * 40})


@dataclass
class FakeHub:
    writers: dict[str, str] = field(default_factory=dict)  # token → the namespace it owns
    repos: dict[str, Repo] = field(default_factory=dict)
    commits: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 30)
        app.router.add_get("/api/whoami-v2", self.whoami)
        app.router.add_post("/api/repos/create", self.create)
        app.router.add_post("/api/validate-yaml", self.validate_yaml)
        base = "/api/datasets/{owner}/{name}"
        app.router.add_get(base + "/revision/{branch}", self.info)
        app.router.add_post(base + "/branch/{branch}", self.branch)
        app.router.add_post(base + "/preupload/{branch}", self.preupload)
        app.router.add_post(base + "/commit/{branch}", self.commit)
        app.router.add_get(base + "/tree/{branch}", self.tree)
        app.router.add_get(base + "/tree/{branch}/{path:.*}", self.tree)
        return app

    # ---------- who may do what
    def _namespace(self, request: web.Request) -> str:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if token not in self.writers:
            raise web.HTTPUnauthorized(
                text=json.dumps({"error": "Invalid credentials in Authorization header"}),
                content_type="application/json",
            )
        return self.writers[token]

    def _repo(self, request: web.Request, write: bool) -> tuple[str, Repo]:
        namespace = self._namespace(request)
        owner, name = request.match_info["owner"], request.match_info["name"]
        repo_id = f"{owner}/{name}"
        if repo_id not in self.repos:
            raise web.HTTPNotFound(
                text=json.dumps({"error": "Repository not found"}),
                content_type="application/json",
                headers={"X-Error-Code": "RepoNotFound"},
            )
        if write and owner != namespace:
            raise web.HTTPForbidden(
                text=json.dumps({"error": "You don't have the rights to write here"}),
                content_type="application/json",
            )
        return repo_id, self.repos[repo_id]

    # ---------- endpoints
    async def whoami(self, request: web.Request) -> web.Response:
        namespace = self._namespace(request)
        return web.json_response({"type": "user", "name": namespace, "orgs": []})

    async def create(self, request: web.Request) -> web.Response:
        namespace = self._namespace(request)
        body = await request.json()
        owner = body.get("organization") or namespace
        if owner != namespace:
            raise web.HTTPForbidden(
                text=json.dumps({"error": "You don't have the rights to create a repo here"}),
                content_type="application/json",
            )
        repo_id = f"{owner}/{body['name']}"
        url = f"{request.scheme}://{request.host}/datasets/{repo_id}"
        with self.lock:
            if repo_id in self.repos:
                return web.json_response({"error": "already created", "url": url}, status=409)
            self.repos[repo_id] = Repo(private=body.get("visibility") == "private")
        return web.json_response({"url": url, "name": repo_id})

    async def validate_yaml(self, request: web.Request) -> web.Response:
        return web.json_response({"errors": [], "warnings": []})

    async def info(self, request: web.Request) -> web.Response:
        repo_id, repo = self._repo(request, write=False)
        branch = request.match_info["branch"]
        if branch not in repo.branches:
            raise web.HTTPNotFound(
                text=json.dumps({"error": "Invalid rev id"}),
                content_type="application/json",
                headers={"X-Error-Code": "RevisionNotFound"},
            )
        files = sorted(repo.branches[branch])
        return web.json_response(
            {
                "id": repo_id,
                "sha": repo.heads[branch],
                "private": repo.private,
                "siblings": [{"rfilename": path} for path in files],
            }
        )

    async def branch(self, request: web.Request) -> web.Response:
        _, repo = self._repo(request, write=True)
        branch = request.match_info["branch"]
        with self.lock:
            if branch in repo.branches:
                return web.json_response({"error": "branch exists"}, status=409)
            repo.branches[branch] = dict(repo.branches["main"])
            repo.heads[branch] = repo.heads["main"]
        return web.json_response({})

    async def preupload(self, request: web.Request) -> web.Response:
        _, repo = self._repo(request, write=True)
        stored = repo.branches.get(request.match_info["branch"], {})
        body = await request.json()
        files = [
            {
                "path": item["path"],
                "uploadMode": "regular",
                "shouldIgnore": False,
                "oid": git_blob_sha(stored[item["path"]]) if item["path"] in stored else None,
            }
            for item in body["files"]
        ]
        return web.json_response({"files": files})

    async def commit(self, request: web.Request) -> web.Response:
        repo_id, repo = self._repo(request, write=True)
        branch = request.match_info["branch"]
        lines = [json.loads(line) for line in (await request.read()).splitlines() if line]
        with self.lock:
            files = repo.branches.setdefault(branch, {})
            for line in lines:
                value: dict[str, Any] = line["value"]
                if line["key"] == "file":
                    files[value["path"]] = base64.b64decode(value["content"])
                elif line["key"] == "deletedFile":
                    files.pop(value["path"], None)
                elif line["key"] != "header":
                    raise web.HTTPBadRequest(text=f"this stand-in cannot {line['key']}")
            self.commits += 1
            oid = hashlib.sha1(f"{repo_id}:{self.commits}".encode()).hexdigest()
            repo.heads[branch] = oid
        url = f"{request.scheme}://{request.host}/datasets/{repo_id}/commit/{oid}"
        return web.json_response({"commitUrl": url, "commitOid": oid, "pullRequestUrl": None})

    async def tree(self, request: web.Request) -> web.Response:
        _, repo = self._repo(request, write=False)
        stored = repo.branches.get(request.match_info["branch"], {})
        prefix = request.match_info.get("path", "").strip("/")
        entries = [
            {"type": "file", "path": path, "oid": git_blob_sha(data), "size": len(data)}
            for path, data in sorted(stored.items())
            if not prefix or path.startswith(prefix + "/")
        ]
        return web.json_response(entries)


def serve_hub(hub: FakeHub) -> ServerThread:
    """The stand-in on its own thread; its URL is `.base_url` without the /v1."""
    return ServerThread(hub).start()  # type: ignore[arg-type]
