"""The portal's JSON API under schemathesis: every operation of /api/v1/openapi.json is sent
generated requests, valid and invalid, and must never answer 5xx, a status its document does
not list, or a body its schema does not describe.

The portal runs in this process over real HTTP and a real SQLite store holding every public
type (tests/test_transparency_pages.py's `site`); schemathesis runs as its own process (its
`run` command), as in tests/test_fuzz_review.py. Bounded: at most MAX_EXAMPLES per operation
and MAX_SECONDS in all; FUZZ_SEED repeats a run."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.test_transparency_pages import Site, site  # noqa: F401 (the fixture)

MAX_EXAMPLES = 15
MAX_SECONDS = 60
SEED = int(os.environ.get("FUZZ_SEED", "20261204"))
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


async def test_the_portal_api_answers_no_5xx_and_only_what_it_documents(
    site: Site,
) -> None:
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{site.url}/api/v1/openapi.json",
        "--checks",
        "not_a_server_error,status_code_conformance,response_schema_conformance",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--max-time",
        str(MAX_SECONDS - 15),
        "--seed",
        str(SEED),
        "--request-timeout",
        "10",
        "--workers",
        "1",
        "--no-color",
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
    print(text[-4_000:])
    assert process.returncode == 0, text[-20_000:]
    assert "No issues found" in text or "passed" in text, text[-5_000:]
