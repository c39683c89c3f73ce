"""Leases in the document store: at most one live instance holds a named lease at a time.

Several instances of a service share its store. A duty that must run once (the outbox
relay, the deadline scan, watching the wikis' logs, submitting to transparency registries,
polling a mailbox) runs only on the instance holding the duty's lease. The holder renews
the lease every third of its length; an instance that dies stops renewing, and another
takes the lease over once it has expired. A stopping instance releases it at once.

A lease is a document ``{holder, expires_at}`` changed only by a version-checked write, so
two instances can never both acquire it. Times are the instances' wall clocks (epoch
seconds): hosts must keep their clocks in sync (NTP), within a small part of the length.
The holder treats the lease as lost from the moment its own last renewal would expire,
measured from before that renewal was written, so it stops before anyone else may start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from casework.store import DocumentStore, DuplicateDocument, StoreError, VersionConflict

log = logging.getLogger(__name__)

LEASES = "leases"

Clock = Callable[[], float]
Duty = Callable[[], Coroutine[Any, Any, None]]


class Lease:
    """One named lease as seen by one instance (``holder``)."""

    def __init__(
        self,
        store: DocumentStore,
        name: str,
        holder: str,
        seconds: float,
        *,
        clock: Clock = time.time,
    ) -> None:
        if seconds <= 0:
            raise ValueError("lease seconds must be > 0")
        self.store = store
        self.name = name
        self.holder = holder
        self.seconds = seconds
        self._clock = clock
        self._valid_until = 0.0
        self.acquired = 0  # times this instance took the lease
        self.renewed = 0  # renewals while holding it
        self.refused = 0  # attempts refused because another instance holds it

    @property
    def held(self) -> bool:
        """Whether this instance may act under the lease now."""
        return self._clock() < self._valid_until

    async def acquire(self) -> bool:
        """Take the lease if it is free or expired, or renew it if held; True if held now."""
        started = self._clock()
        was_held = self.held
        doc = await self.store.get(LEASES, self.name)
        fields = {"holder": self.holder, "expires_at": started + self.seconds, "since": started}
        try:
            if doc is None:
                await self.store.insert(LEASES, {"_id": self.name, **fields})
            else:
                mine = doc.get("holder") == self.holder
                if not mine and float(doc.get("expires_at", 0)) > started:
                    self._valid_until = 0.0
                    self.refused += 1
                    return False
                if mine and was_held:
                    fields["since"] = doc.get("since", started)
                await self.store.replace(
                    LEASES, {"_id": self.name, **fields}, expected_version=doc["_version"]
                )
        except (DuplicateDocument, VersionConflict):
            self._valid_until = 0.0
            return False
        self._valid_until = started + self.seconds
        if was_held:
            self.renewed += 1
        else:
            self.acquired += 1
            log.info("lease %s taken by %s", self.name, self.holder)
        return True

    async def release(self) -> None:
        """Give the lease up now (if held), so another instance need not wait for it to
        expire."""
        if not self.held:
            return
        self._valid_until = 0.0
        doc = await self.store.get(LEASES, self.name)
        if doc is None or doc.get("holder") != self.holder:
            return
        try:
            await self.store.replace(
                LEASES,
                {"_id": self.name, "holder": self.holder, "expires_at": 0.0, "since": 0.0},
                expected_version=doc["_version"],
            )
        except VersionConflict:
            return
        log.info("lease %s released by %s", self.name, self.holder)


async def run_while_holding(lease: Lease, duty: Duty) -> None:
    """Run ``duty`` (a coroutine that runs until cancelled) only while holding ``lease``.

    Tries to take the lease every third of its length; once held, starts the duty and
    renews the lease on the same beat. If a renewal fails and the lease runs out, the duty
    is cancelled and the loop goes back to waiting. An exception from the duty propagates
    (the service stops, as it would without a lease). Cancelling this coroutine cancels the
    duty and releases the lease.
    """
    beat = lease.seconds / 3
    task: asyncio.Task[None] | None = None
    try:
        while True:
            if not await _try(lease.acquire, lease):
                await asyncio.sleep(beat)
                continue
            task = asyncio.create_task(duty(), name=f"lease:{lease.name}")
            while True:
                done, _ = await asyncio.wait({task}, timeout=beat)
                if done:
                    task.result()  # a duty that ends on its own: raise what it raised
                    return
                await _try(lease.acquire, lease)
                if not lease.held:
                    log.warning("lease %s lost by %s: duty stopped", lease.name, lease.holder)
                    task.cancel()
                    await asyncio.wait({task})
                    task = None
                    break
    finally:
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})
        try:
            await asyncio.shield(lease.release())
        except (StoreError, OSError, asyncio.CancelledError):
            pass


async def _try(acquire: Callable[[], Coroutine[Any, Any, bool]], lease: Lease) -> bool:
    try:
        return await acquire()
    except (StoreError, OSError) as exc:
        log.warning("lease %s: store unavailable (%r); held=%s", lease.name, exc, lease.held)
        return lease.held
