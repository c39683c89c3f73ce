"""The MediaWiki client: one session shared by every action wrapper."""

from __future__ import annotations

from casework.coalesce import Coalescer
from casework.mediawiki.blocks import BlockActions
from casework.mediawiki.logs import LogReads
from casework.mediawiki.names import BLOCK_READ_USERS
from casework.mediawiki.pages import PageActions
from casework.mediawiki.users import UserActions


class MediaWikiClient(BlockActions, PageActions, UserActions, LogReads):
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
        super().__init__(
            api_url,
            username,
            password,
            user_agent=user_agent,
            timeout=timeout,
            retry_attempts=retry_attempts,
            retry_initial_wait=retry_initial_wait,
            retry_max_wait=retry_max_wait,
        )
        # Concurrent active_blocks reads go to the wiki as one list=blocks of many users.
        self.block_reads = Coalescer(self._blocks_of, self._blocks_one, BLOCK_READ_USERS)
        self.user_reads = Coalescer(self._users_of, self._user_one, BLOCK_READ_USERS)
