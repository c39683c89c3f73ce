"""Clients for the DSA Transparency Database statement API and the Lumen notice API.

Both endpoints are configurable (the sandbox has no access to the real ones);
each call carries its bearer token. Statements go in batches of at most 100,
the API's limit for `POST /api/v1/statements`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiohttp

DSA_BATCH_LIMIT = 100


class SubmissionRejected(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


def batches(
    items: Sequence[dict[str, Any]], size: int = DSA_BATCH_LIMIT
) -> list[list[dict[str, Any]]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


class DsaClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str) -> None:
        self.session = session
        self.url = base_url.rstrip("/") + "/api/v1/statements"
        self.token = token

    async def submit(self, statements: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Submit every statement, 100 per call; what the API answered for each."""
        created: list[dict[str, Any]] = []
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        for batch in batches(statements):
            async with self.session.post(
                self.url, json={"statements": batch}, headers=headers
            ) as reply:
                body = await reply.text()
                if reply.status != 201:
                    raise SubmissionRejected(reply.status, body)
                created.extend((await reply.json())["statements"])
        return created


class LumenClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str) -> None:
        self.session = session
        self.url = base_url.rstrip("/") + "/notices"
        self.token = token

    async def submit(self, notice: dict[str, Any]) -> dict[str, Any]:
        # Lumen's API takes the token as a field of the request body, beside `notice`.
        body = {**notice, "authentication_token": self.token}
        headers = {"Accept": "application/json"}
        async with self.session.post(self.url, json=body, headers=headers) as reply:
            answer = await reply.text()
            if reply.status != 201:
                raise SubmissionRejected(reply.status, answer)
            created: dict[str, Any] = await reply.json()
            return created
