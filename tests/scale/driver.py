"""Drive cases through intake's and review's HTTP APIs, as staff at a console would.

Review is stateless over HTTP, so requests go round-robin over the live review instances
(a load balancer's job); a request that dies with its instance is retried on another, and
a sign-off whose answer was lost is checked on the case before it is sent again.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from deploy.stack import ServiceProcess
from services.review.domain.opening import case_id_for
from tests.scale.cases import ScaleCase

Live = Callable[[], list[ServiceProcess]]
ATTEMPTS = 20
SUBMIT_WITHIN = 90.0  # seconds


def staff(staff_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer demo-{staff_id}-token"}


@dataclass
class Driven:
    """What the driver did, per case: when its submission was accepted and when approved."""

    submitted_at: dict[str, float] = field(default_factory=dict)
    approved_at: dict[str, float] = field(default_factory=dict)
    references: dict[str, str] = field(default_factory=dict)
    cases: dict[str, ScaleCase] = field(default_factory=dict)
    requests_by_instance: dict[str, int] = field(default_factory=dict)
    retries: list[str] = field(default_factory=list)


class Driver:
    def __init__(
        self, http: aiohttp.ClientSession, intake_url: str, review: Live, driven: Driven
    ) -> None:
        self.http = http
        self.intake_url = intake_url
        self.review = review
        self.driven = driven
        self._turn = itertools.count()

    async def run(self, cases: list[ScaleCase], concurrency: int = 24) -> None:
        queue = iter(cases)

        async def worker() -> None:
            for case in queue:
                await self.one(case)

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def one(self, case: ScaleCase) -> None:
        reference = await self.submit(case)
        case_id = case_id_for(reference)
        self.driven.references[case_id] = reference
        self.driven.cases[case_id] = case
        await self.opened(case_id)
        status, body = await self.call(
            "PUT", case_id, "/decision", case.decision(), "alice", retry=True
        )
        assert status == 200, (case_id, status, body)
        for level, signer in case.chain:
            await self.sign(case_id, level, signer)
        self.driven.approved_at[case_id] = time.time()

    async def submit(self, case: ScaleCase) -> str:
        """Retried until intake accepts it: intake may be down (killed, being restarted)
        for a while, and the idempotency key makes a repeat harmless."""
        headers = {"Idempotency-Key": f"scale-{case.n}"}
        url = f"{self.intake_url}/api/v1/requests"
        deadline = time.monotonic() + SUBMIT_WITHIN
        while time.monotonic() < deadline:
            try:
                async with self.http.post(url, json=case.request(), headers=headers) as reply:
                    body = await reply.json(content_type=None)
                    if reply.status == 202:
                        reference: str = body["reference"]
                        self.driven.submitted_at[case_id_for(reference)] = time.time()
                        return reference
                    if reply.status < 500:
                        raise AssertionError(f"intake refused case {case.n}: {body}")
            except (aiohttp.ClientConnectionError, ValueError) as exc:
                self.driven.retries.append(f"intake {case.n}: {exc!r}")
            await asyncio.sleep(0.2)  # wait-ok: back-off before retrying a failed request
        raise AssertionError(f"intake did not accept case {case.n} within {SUBMIT_WITHIN} s")

    async def opened(self, case_id: str) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status, _ = await self.call("GET", case_id, "", None, "alice", retry=True)
            if status == 200:
                return
            await asyncio.sleep(0.1)  # wait-ok: deadline poll for review to open the case
        raise AssertionError(f"review did not open {case_id} within 120 s")

    async def sign(self, case_id: str, level: str, signer: str) -> None:
        body = {"level": level, "verdict": "approve", "comment": f"{signer} approves"}
        for _ in range(ATTEMPTS):
            status, answer = await self.call("POST", case_id, "/signoffs", body, signer)
            if status == 201:
                return
            # A lost answer: the sign-off may have landed on the instance that died.
            _, case = await self.call("GET", case_id, "", None, signer, retry=True)
            if isinstance(case, dict) and any(
                s.get("level") == level for s in case.get("signoffs", [])
            ):
                return
            if status < 500 and status != 0:
                raise AssertionError(f"{case_id}: {level} sign-off refused: {status} {answer}")
        raise AssertionError(f"{case_id}: {level} sign-off failed {ATTEMPTS} times")

    async def call(
        self, method: str, case_id: str, suffix: str, body: Any, signer: str, *, retry: bool = False
    ) -> tuple[int, Any]:
        """One request to the next live review instance. A dead connection or a 5xx answer
        is retried on the next instance when ``retry`` (the request is idempotent), else
        returned as (0 or the status, the error)."""
        last: tuple[int, Any] = (0, "no review instance")
        for _ in range(ATTEMPTS):
            instances = self.review()
            if not instances:
                break
            instance = instances[next(self._turn) % len(instances)]
            url = f"{instance.url}/api/v1/cases/{case_id}{suffix}"
            try:
                async with self.http.request(method, url, json=body, headers=staff(signer)) as r:
                    answer = await r.json(content_type=None)
                    counts = self.driven.requests_by_instance
                    counts[instance.name] = counts.get(instance.name, 0) + 1
                    if r.status < 500:
                        return r.status, answer
                    last = (r.status, answer)
            except (aiohttp.ClientConnectionError, ValueError) as exc:
                last = (0, repr(exc))
            self.driven.retries.append(f"{method} {case_id}{suffix} on {instance.name}: {last}")
            if not retry:
                return last
            await asyncio.sleep(0.1)  # wait-ok: back-off before retrying on another instance
        return last
