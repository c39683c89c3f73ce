"""The client's session with the wiki: login, tokens and the calls every action makes.

Logs in with a bot password (lazily, on first use), caches the CSRF token, and sends every
request with ``assert=user`` so that reads see what the account may see (hidden blocks).
A request that fails with ``badtoken`` refetches the token, one that fails with
``assertuserfailed`` (session lost) logs in again; either is retried once. Transient failures
(network errors, HTTP 5xx/429, ``ratelimited``, ``readonly``, ``maxlag``,
``internal_api_error_*``) are retried with exponential backoff; everything else raises
:class:`MediaWikiError` at once.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Any, Self

import aiohttp
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from casework.mediawiki.errors import LoginError, MediaWikiError

log = logging.getLogger("casework.mediawiki")


class Session:
    """What every action wrapper (blocks, pages, users, logs) calls through."""

    def __init__(
        self,
        api_url: str,
        username: str,
        password: str,
        *,
        user_agent: str = "casework/0.1 (office actions)",
        timeout: float = 30.0,
        retry_attempts: int = 4,
        retry_initial_wait: float = 0.5,
        retry_max_wait: float = 8.0,
    ) -> None:
        self.api_url = api_url
        self.username = username
        self._password = password
        self._user_agent = user_agent
        self._timeout = timeout
        self._retry_attempts = retry_attempts
        self._retry_initial_wait = retry_initial_wait
        self._retry_max_wait = retry_max_wait
        self._session: aiohttp.ClientSession | None = None
        self._auth_lock = asyncio.Lock()
        self._logged_in = False
        self._login_generation = 0
        self._csrf_token: str | None = None
        self._tokens: dict[str, str] = {}  # other token types (userrights, …)

    async def __aenter__(self) -> Self:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                # unsafe=True: keep cookies for IP-address hosts such as 127.0.0.1.
                cookie_jar=aiohttp.CookieJar(unsafe=True),
                headers={"User-Agent": self._user_agent},
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._logged_in = False
        self._csrf_token = None
        self._tokens.clear()

    @property
    def account(self) -> str:
        """The wiki user the client edits as (a bot password's ``User@bot`` is ``User``)."""
        return self.username.split("@", 1)[0]

    # --- session -------------------------------------------------------------------------

    async def login(self) -> None:
        async with self._auth_lock:
            await self._login()

    async def _login(self) -> None:
        # A bot-password session refuses a second action=login: start from a clean jar.
        self._http.cookie_jar.clear()
        self._logged_in = False
        self._csrf_token = None
        self._tokens.clear()
        reply = await self._call("GET", {"action": "query", "meta": "tokens", "type": "login"})
        token = reply["query"]["tokens"]["logintoken"]
        reply = await self._call(
            "POST",
            {
                "action": "login",
                "lgname": self.username,
                "lgpassword": self._password,
                "lgtoken": token,
            },
        )
        result = reply["login"]
        if result.get("result") != "Success":
            status = str(result.get("result", "unknown")).lower()
            reason = result.get("reason", "no reason given")
            raise LoginError(f"login-{status}", f"{self.username}: {reason}", transient=False)
        self._logged_in = True
        self._login_generation += 1
        log.info("logged in to %s as %s", self.api_url, result.get("lgusername"))

    async def _session_state(self, token_type: str | None) -> tuple[str | None, int]:
        async with self._auth_lock:
            if not self._logged_in:
                await self._login()
            if token_type == "csrf":
                if self._csrf_token is None:
                    reply = await self._call("GET", {"action": "query", "meta": "tokens"})
                    self._csrf_token = str(reply["query"]["tokens"]["csrftoken"])
                return self._csrf_token, self._login_generation
            if token_type is not None and token_type not in self._tokens:
                reply = await self._call(
                    "GET", {"action": "query", "meta": "tokens", "type": token_type}
                )
                self._tokens[token_type] = str(reply["query"]["tokens"][f"{token_type}token"])
            token = self._tokens.get(token_type) if token_type else None
            return token, self._login_generation

    async def _read(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._as_user("GET", params, None)

    async def _write(
        self, params: dict[str, Any], token_type: str = "csrf", *, retry: bool = True
    ) -> dict[str, Any]:
        """``retry=False``: a transient failure is raised at once (the caller must find out
        whether the write reached the wiki before trying it again)."""
        return await self._as_user("POST", params, token_type, retry=retry)

    async def _as_user(
        self, method: str, params: dict[str, Any], token_type: str | None, *, retry: bool = True
    ) -> dict[str, Any]:
        """Call as the logged-in user (``assert=user``), so reads see what the account may see."""
        for attempt in (1, 2):
            token, generation = await self._session_state(token_type)
            try:
                request = {**params, "token": token, "assert": "user"}
                return await self._call(method, request, retry=retry)
            except MediaWikiError as err:
                if attempt == 2 or err.code not in ("badtoken", "assertuserfailed"):
                    raise
                log.info("%s on %s; refreshing the session", err.code, params.get("action"))
                async with self._auth_lock:
                    # Another task may have refreshed already; do not throw its work away.
                    if err.code == "badtoken" and self._csrf_token == token:
                        self._csrf_token = None
                    if err.code == "badtoken" and token_type in self._tokens:
                        if self._tokens[token_type] == token:
                            del self._tokens[token_type]
                    if err.code == "assertuserfailed" and self._login_generation == generation:
                        self._logged_in = False
        raise AssertionError("unreachable")

    # --- transport -----------------------------------------------------------------------

    @property
    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("MediaWikiClient used outside 'async with'")
        return self._session

    async def _call(
        self, method: str, params: dict[str, Any], *, retry: bool = True
    ) -> dict[str, Any]:
        def log_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            log.warning(
                "%s %s failed (%s); attempt %d, retrying in %.2fs",
                method,
                params.get("action"),
                error,
                state.attempt_number,
                wait,
            )

        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda e: isinstance(e, MediaWikiError) and e.transient),
            stop=stop_after_attempt(self._retry_attempts if retry else 1),
            wait=wait_exponential(multiplier=self._retry_initial_wait, max=self._retry_max_wait),
            before_sleep=log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._call_once(method, params)
        raise AssertionError("unreachable")

    async def _call_once(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        fields = _encode({**params, "format": "json", "formatversion": "2"})
        try:
            if method == "GET":
                request = self._http.get(self.api_url, params=fields)
            else:
                request = self._http.post(self.api_url, data=fields)
            async with request as response:
                if response.status >= 400:
                    text = (await response.text())[:500]
                    transient = response.status >= 500 or response.status == 429
                    raise MediaWikiError(f"http-{response.status}", text, transient=transient)
                try:
                    body = await response.json(content_type=None)
                except ValueError as err:
                    text = (await response.text())[:500]
                    raise MediaWikiError("badresponse", f"not JSON: {text!r}") from err
        except aiohttp.ClientConnectorError as err:  # not connected: nothing was sent
            raise MediaWikiError("network", f"{type(err).__name__}: {err}", transient=True) from err
        except (aiohttp.ClientError, TimeoutError) as err:
            raise MediaWikiError(
                "network", f"{type(err).__name__}: {err}", transient=True, maybe_running=True
            ) from err
        if not isinstance(body, dict):
            raise MediaWikiError("badresponse", f"not a JSON object: {body!r}")
        if "error" in body:
            error = body["error"]
            raise MediaWikiError(str(error.get("code")), str(error.get("info", "")))
        if "warnings" in body:
            log.warning("API warnings for %s: %s", params.get("action"), body["warnings"])
        return body


def _encode(params: dict[str, Any]) -> dict[str, str]:
    """Action API conventions: a boolean is true when present, so drop False and None."""
    fields: dict[str, str] = {}
    for key, value in params.items():
        if value is None or value is False:
            continue
        fields[key] = "1" if value is True else str(value)
    return fields
