"""Review's JSON API under schemathesis: every operation of /api/v1/openapi.json is sent
generated requests, valid and invalid (wrong types, missing and extra fields, hostile
strings, odd headers), as a staff member holding every role and level, and must never
answer 5xx (`not_a_server_error`) nor a status its OpenAPI document does not list
(`status_code_conformance`).

Review runs in this process over real HTTP and a real SQLite store, built by its own
`wire` (tests/test_review_auth_support.py), with one case received through its handler so
that case routes have something to find. schemathesis runs as its own process (its
`run` command) so the server keeps this event loop. Bounded: at most MAX_EXAMPLES per
operation and MAX_SECONDS in all; FUZZ_SEED repeats a run."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import sys
from pathlib import Path

import yaml

from tests.test_review_auth_support import (
    DEMO_STAFF,
    POLICY,
    receive,
    review_in_process,
    submission,
)

MAX_EXAMPLES = 25
MAX_SECONDS = 90
SEED = int(os.environ.get("FUZZ_SEED", "20261203"))
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


def _staff_file(tmp_path: Path, token: str) -> None:
    """The demo staff plus `fuzz`, who holds every role and sign-off level."""
    raw = yaml.safe_load(DEMO_STAFF.read_text(encoding="utf-8"))
    raw["staff"].append(
        {
            "id": "fuzz",
            "name": "Fuzz Everything",
            "email": "fuzz@officeactions.test",
            "roles": sorted(str(r) for r in POLICY.access.roles),
            "levels": sorted(str(level) for level in POLICY.signoff_levels),
            "languages": ["en", "ru", "de", "fr"],
            "tokens": [{"name": "fuzz", "sha256": hashlib.sha256(token.encode()).hexdigest()}],
        }
    )
    (tmp_path / "staff.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")


async def test_the_review_api_answers_no_5xx_and_only_documented_statuses(
    tmp_path: Path,
) -> None:
    token = "fuzz-" + secrets.token_urlsafe(24)
    _staff_file(tmp_path, token)
    async with review_in_process(tmp_path) as review:
        await receive(review, submission())
        command = [
            str(SCHEMATHESIS),
            "run",
            f"{review.url}/api/v1/openapi.json",
            "--checks",
            "not_a_server_error,status_code_conformance",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--max-time",
            str(MAX_SECONDS - 15),
            "--seed",
            str(SEED),
            "--header",
            f"Authorization: Bearer {token}",
            "--request-timeout",
            "10",
            "--workers",
            "1",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path / "report"),
        ]
        process = await asyncio.create_subprocess_exec(
            *command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""},
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), MAX_SECONDS)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise AssertionError(f"schemathesis ran over {MAX_SECONDS}s") from None
    text = output.decode(errors="replace")
    print(text[-4_000:])  # the run's summary, in the test log
    assert process.returncode == 0, text[-20_000:]
    assert "No issues found" in text or "passed" in text, text[-5_000:]
