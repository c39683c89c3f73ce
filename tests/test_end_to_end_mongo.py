"""The global-ban happy path end to end, with every service's documents in MongoDB.

Same processes, broker, wiki and mail sink as tests/test_end_to_end.py, but each service
gets ``MONGODB_URI`` (one database per service, ``casework_<service>``) and talks the real
MongoDB wire protocol through pymongo.

The server is nx-27017, a MongoDB wire-protocol server on SQLite, used because MongoDB
cannot be installed here. When ``MONGODB_URI`` is set in the environment that real
MongoDB is used instead (and nx-27017 is not started).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from pymongo import AsyncMongoClient

from casework.mediawiki import MediaWikiClient
from deploy.sandbox_wiki import SandboxWiki
from tests.fixtures.stack import Stack, running_stack
from tests.fixtures.stores import Nx27017
from tests.support import eventually
from tests.test_end_to_end import (
    approve,
    assert_banned_and_told,
    submit_and_open,
)

pytestmark = pytest.mark.e2e


def mongodb_uri(request: pytest.FixtureRequest) -> str:
    real = os.environ.get("MONGODB_URI")
    if real:
        return real
    server: Nx27017 = request.getfixturevalue("nx27017")
    # A database in the URI on purpose: the services must swap it for their own.
    return server.database_url("casework")


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest,
    sandbox_wiki: SandboxWiki,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """tests/fixtures/stack.py's stack, with MONGODB_URI given to every service."""
    data_dir = tmp_path_factory.mktemp("stack-mongo")
    with running_stack(sandbox_wiki, data_dir, {"MONGODB_URI": mongodb_uri(request)}) as running:
        yield running


async def test_global_ban_travels_through_every_service_on_mongodb(
    stack: Stack,
    http: aiohttp.ClientSession,
    wiki_client: MediaWikiClient,
) -> None:
    reference, case_id = await submit_and_open(http, stack, "Vandal1")
    await approve(http, stack, case_id, "Vandal1")

    await assert_banned_and_told(stack, wiki_client, case_id, "Vandal1")

    # Proof the documents went to MongoDB: each service's database holds its part of the
    # case, and no service opened a SQLite store in the data directory.
    async def in_mongo() -> bool:
        return await mongo_documents(stack.extra_env["MONGODB_URI"], reference, case_id)

    await eventually(in_mongo, what="every service's documents for the case in MongoDB")
    assert sorted(p.name for p in stack.data_dir.rglob("*.sqlite3*")) == []


async def mongo_documents(uri: str, reference: str, case_id: str) -> bool:
    """Whether every service's database holds its document of the case, in its final state."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    try:
        submission = await client["casework_intake"]["submissions"].find_one({"_id": reference})
        case = await client["casework_review"]["cases"].find_one({"_id": case_id})
        record = await client["casework_enforcement"]["enforcements"].find_one({"_id": case_id})
        sent = await client["casework_notify"]["deliveries"].find({"case_id": case_id}).to_list()
    finally:
        await client.close()
    assert submission is not None, f"no submission {reference} in casework_intake"
    assert case is not None, f"no case {case_id} in casework_review"
    assert record is not None, f"no enforcement {case_id} in casework_enforcement"
    return case["state"] == "approved" and {(d["audience"], d["state"]) for d in sent} >= {
        ("affected-user", "sent"),
        ("public", "sent"),
    }
