"""Hostile input to intake's JSON API and web form: generated malformed bodies of every kind.

Whatever arrives, the answer is never a 5xx, a rejected body stores nothing, and no event
is published for it. Real parts: the service in this process (SQLite, relay), Tansu.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casework.contract import SubmissionKind
from deploy.broker import TansuBroker
from tests.fixtures.broker import started_broker
from tests.support import eventually
from tests.test_intake_api import EXAMPLES, Intake, intake_events, running_intake, settings_for

KINDS = [k.value for k in SubmissionKind]
CONTROL = st.characters(min_codepoint=0, max_codepoint=0x1F)
JSON_LEAF = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50)
)
JSON = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)
HOSTILE_TEXT = st.one_of(
    st.text(CONTROL, min_size=1, max_size=50),
    st.text(min_size=1, max_size=50).map(lambda t: t + "\x00\x1b[31m"),
    st.integers(min_value=20_001, max_value=200_000).map(lambda n: "x" * n),
    st.text(
        st.characters(min_codepoint=0xD800 - 50, max_codepoint=0xFFFF), min_size=1, max_size=20
    ),
)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A kind and a body: an example with one field made hostile, or no example at all."""
    kind = draw(st.sampled_from(KINDS))
    body: Any = copy.deepcopy(EXAMPLES[SubmissionKind(kind)])
    choice = draw(st.integers(0, 5))
    if choice == 5:  # a lone surrogate, escaped: valid JSON, not encodable text
        texts = [k for k, v in body.items() if isinstance(v, str)]
        body[draw(st.sampled_from(texts))] = "SURROGATE"
        escape = draw(st.sampled_from(["\\ud800", "\\udfff", "\\ud83d"]))
        return kind, json.dumps(body).replace("SURROGATE", f"x{escape}" * 20).encode()
    if choice == 0:  # random JSON instead of the body
        body = draw(JSON)
    elif choice == 1:  # a field with the wrong type
        field = draw(st.sampled_from(sorted(body)))
        body[field] = draw(
            st.one_of(
                st.integers(),
                st.lists(st.integers(), max_size=3),
                st.booleans(),
                st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
            )
        )
    elif choice == 2:  # hostile text in a text field
        texts = [k for k, v in body.items() if isinstance(v, str)]
        field = draw(st.sampled_from(texts))
        body[field] = draw(HOSTILE_TEXT)
    elif choice == 3:  # invalid UTF-8 or cut JSON
        raw = json.dumps(body).encode()
        cut = draw(st.integers(1, len(raw) - 1))
        junk = draw(st.binary(min_size=1, max_size=20).filter(lambda b: not _utf8(b)))
        return kind, raw[:cut] + junk + raw[cut:]
    else:  # an unknown field
        body[draw(st.text(min_size=1, max_size=20).filter(lambda k: k not in body))] = draw(JSON)
    return kind, json.dumps(body, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.fixture(scope="module")
def own_broker() -> Iterator[TansuBroker]:
    """A broker for this module alone, so its intake topic holds only this intake's events."""
    with started_broker() as broker:
        yield broker


@pytest.fixture(scope="module")
async def intake(
    own_broker: TansuBroker, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Intake]:
    settings = settings_for(tmp_path_factory.mktemp("hostile"), own_broker)
    async with running_intake(settings) as running:
        yield running


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=mutated())
async def test_malformed_api_bodies_get_4xx_and_change_nothing(
    intake: Intake, case: tuple[str, bytes]
) -> None:
    kind, raw = case
    before = len(await intake.documents())
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            intake.submissions_url(kind), data=raw, headers={"Content-Type": "application/json"}
        ) as reply,
    ):
        assert reply.status < 500, await reply.text()
        assert reply.content_type == "application/json"
        body = await reply.json()
    after = len(await intake.documents())
    if reply.status == 202:
        # A mutation can happen to be valid (e.g. an optional field set to null): then it
        # is one submission, like any other.
        assert after == before + 1
    else:
        assert 400 <= reply.status < 500 and body["errors"] is not None, body
        assert after == before, body


async def test_every_event_is_one_stored_submission(intake: Intake) -> None:
    """With the property tests above: no rejected body ever reached the topic, since the
    topic holds exactly the stored submissions, once each."""
    stored = sorted(d["_id"] for d in await intake.documents())

    async def published() -> tuple[list[str]] | None:
        subjects = sorted(e.subject for e in await intake_events(intake.bootstrap))
        return (subjects,) if set(subjects) >= set(stored) else None

    [subjects] = await eventually(published, what="every stored submission published")
    assert subjects == stored
    assert await intake.pending_outbox() == 0


async def csrf_token(http: aiohttp.ClientSession, intake: Intake) -> str:
    """A valid CSRF token, as the form page hands it out (as cookie and as field)."""
    async with http.get(f"{intake.url}/submit/request") as reply:
        assert reply.status == 200
        return reply.cookies["intake_csrf"].value


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from(KINDS),
    fields=st.dictionaries(
        st.sampled_from(
            ["summary", "questions", "requester.email", "evidence.0.url", "evidence.0.where", "x"]
        )
        | st.text(max_size=20),
        st.text(max_size=300) | HOSTILE_TEXT,
        max_size=6,
    ),
    with_token=st.booleans(),
)
async def test_malformed_form_posts_are_answered_without_a_crash_and_change_nothing(
    intake: Intake, kind: str, fields: dict[str, str], with_token: bool
) -> None:
    before = len(await intake.documents())
    async with aiohttp.ClientSession() as http:
        token = await csrf_token(http, intake) if with_token else None
        pairs = [
            (k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass"))
            for k, v in fields.items()
        ]
        if token:
            pairs.append((b"csrf_token", token.encode()))
        async with http.post(
            f"{intake.url}/submit/{kind}",
            data=urlencode(pairs).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                **({"Cookie": f"intake_csrf={token}"} if token else {}),
            },
            allow_redirects=False,
        ) as reply:
            assert reply.status < 500, await reply.text()
            status = reply.status
    if status == 303:
        assert len(await intake.documents()) == before + 1
    else:
        assert status in (400, 403, 409, 413, 422), status
        # Without a token it is refused, at the latest at the CSRF check (413 comes first).
        assert status in ((403, 413) if token is None else (400, 409, 413, 422)), status
        assert len(await intake.documents()) == before
