"""`python -m services.review.staff`: add staff, set a password, list, issue or revoke
tokens (seeded ones from the staff file included), import a staff file. Works on review's
store (opened from the service's own settings, so the same `REVIEW_STORE_URL` /
`CASEWORK_DATA_DIR` / `MONGODB_URI`); running instances see each change within
`REVIEW_STAFF_REFRESH_SECONDS`. Every change is in the staff change log.

Tokens are printed once and only their SHA-256 is kept.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import secrets
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from pydantic import ValidationError

from casework.errors import Rejected
from casework.policy import Policy, PolicyError, load_policy
from casework.store import StoreError, open_store, redact_url
from services.review.auth.directory import StaffRecords
from services.review.auth.passwords import MIN_PASSWORD, hash_password
from services.review.auth.token_uses import TokenUses
from services.review.domain.staff import (
    TOKEN_DAYS,
    ApiToken,
    StaffDirectoryError,
    StaffMember,
    token_digest,
    token_expiry,
)
from services.review.settings import ReviewSettings


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = ReviewSettings()
    try:
        policy = load_policy(settings.policy_file)
        out = asyncio.run(_session(args, settings, policy))
    except (PolicyError, StaffDirectoryError, CommandError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Rejected as exc:
        for error in exc.errors:
            print(f"error: {error.field}: {error.message}", file=sys.stderr)
        return 2
    if out:
        print(out)
    return 0


class CommandError(Exception):
    pass


async def _session(args: argparse.Namespace, settings: ReviewSettings, policy: Policy) -> str:
    url = args.store or settings.store_url
    try:
        store = await open_store(url)
    except StoreError as exc:
        raise CommandError(f"store {redact_url(url)}: {exc}") from exc
    try:
        records = StaffRecords(store, policy, lambda: datetime.now(UTC))
        await records.prepare()
        await records.reconcile()
        if args.command != "import":
            # As the service does at start: an empty store begins from the staff file.
            await records.seed(settings.staff_file)
        return await _run(args, records, _actor())
    finally:
        await store.close()


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


async def _run(args: argparse.Namespace, records: StaffRecords, actor: str) -> str:
    if args.command == "import":
        added, replaced = await records.import_file(args.file, actor, args.replace)
        return f"imported {added} new, replaced {replaced} from {args.file}"
    if args.command == "add":
        try:
            member = StaffMember(
                id=args.id,
                name=args.name,
                email=args.email,
                roles=args.role,
                levels=args.level,
                languages=args.language,
                wiki_accounts=args.wiki_account,
            )
        except ValidationError as exc:
            raise CommandError(_problems(exc)) from exc
        await records.add(member, actor, "added", f"roles {', '.join(args.role) or 'none'}")
        return f"added {args.id}"
    if await records.get(args.id) is None:
        raise CommandError(f"id: no staff member {args.id!r}")
    if args.command == "set-password":
        hashed = hash_password(_read_password(args.password_stdin))
        await records.change(
            args.id,
            lambda m: m.model_copy(update={"password_hash": hashed}),
            actor,
            "password-set",
            "with the management command",
        )
        return f"password set for {args.id}"
    if args.command == "issue-token":
        return await _issue_token(records, args, actor)
    if args.command == "list-tokens":
        return await _token_table(records, args.id)
    if args.command == "revoke-token":

        def revoke(member: StaffMember) -> StaffMember:
            kept = [t for t in member.tokens if t.name != args.name]
            if len(kept) == len(member.tokens):
                raise CommandError(f"name: {member.id} has no token named {args.name!r}")
            return member.model_copy(update={"tokens": kept})

        await records.change(args.id, revoke, actor, "token-revoked", args.name)
        return f"revoked {args.id}'s token {args.name!r}"
    raise CommandError(f"unknown command {args.command!r}")


async def _issue_token(records: StaffRecords, args: argparse.Namespace, actor: str) -> str:
    """A new token for ``args.id``, valid to ``args.expires_on`` (default 90 days); printed once."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    try:
        expires_at = token_expiry(args.expires_on, now)
    except ValueError as exc:
        raise CommandError(f"expires-on: {exc}") from exc
    issued = ApiToken(
        name=args.name,
        sha256=token_digest(token),
        created_at=now,
        created_by=actor,
        expires_at=expires_at,
    )

    def add_token(member: StaffMember) -> StaffMember:
        if any(t.name == args.name for t in member.tokens):
            raise CommandError(f"name: {member.id} already has a token named {args.name!r}")
        return member.model_copy(update={"tokens": [*member.tokens, issued]})

    await records.change(args.id, add_token, actor, "token-issued", args.name)
    return token


async def _token_table(records: StaffRecords, staff_id: str) -> str:
    member = await records.get(staff_id)
    assert member is not None
    used = await TokenUses(records.store).last_used([t.sha256 for t in member.tokens])
    rows = [("NAME", "CREATED", "BY", "LAST USED", "EXPIRES")]
    for t in member.tokens:
        last = used.get(t.sha256)
        rows.append(
            (
                t.name,
                t.created_at.isoformat(timespec="seconds") if t.created_at else "-",
                t.created_by or "-",
                last.isoformat(timespec="seconds") if last else "-",
                t.expires_at.isoformat(timespec="seconds") if t.expires_at else "never",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines) if member.tokens else f"{staff_id} has no API tokens"


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("New password: ")
        if getpass.getpass("Again: ") != password:
            raise CommandError("password: the two entries differ")
    if len(password) < MIN_PASSWORD:
        raise CommandError(f"password: at least {MIN_PASSWORD} characters")
    return password


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.review.staff",
        description="Manage review's staff directory in review's store.",
    )
    parser.add_argument(
        "--store", help="store URL (default: review's, from REVIEW_STORE_URL or the data dir)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add a staff member")
    add.add_argument("id")
    add.add_argument("--name", required=True)
    add.add_argument("--email", required=True)
    add.add_argument("--role", action="append", default=[], help="repeat for several")
    add.add_argument("--level", action="append", default=[], help="sign-off level")
    add.add_argument("--language", action="append", default=[], required=True)
    add.add_argument("--wiki-account", action="append", default=[])
    password = commands.add_parser("set-password", help="set a staff member's password")
    password.add_argument("id")
    password.add_argument("--password-stdin", action="store_true", help="read one line")
    issue = commands.add_parser("issue-token", help="issue an API token; printed once")
    issue.add_argument("id")
    issue.add_argument("--name", required=True, help="what the token is for")
    issue.add_argument(
        "--expires-on",
        type=date.fromisoformat,
        help=f"last day it works, YYYY-MM-DD (UTC; default {TOKEN_DAYS} days from today)",
    )
    listed = commands.add_parser("list-tokens", help="a member's API tokens: name, times")
    listed.add_argument("id")
    revoke = commands.add_parser(
        "revoke-token", help="revoke an API token by name (a staff file's is 'seeded')"
    )
    revoke.add_argument("id")
    revoke.add_argument("--name", required=True)
    load = commands.add_parser(
        "import", help="import a staff YAML file (refused if it names stored members)"
    )
    load.add_argument("file", type=Path)
    load.add_argument("--replace", action="store_true", help="overwrite members already stored")
    return parser
