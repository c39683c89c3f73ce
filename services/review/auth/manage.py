"""`python -m services.review.staff`: add staff, set a password, issue or revoke a token.

The staff file is rewritten in place (atomically); the running service re-reads it.
Tokens are printed once and only their SHA-256 is kept.
"""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from casework.policy import PolicyError, load_policy
from services.review.auth.passwords import hash_password
from services.review.settings import ReviewSettings
from services.review.staff import (
    ApiToken,
    StaffDirectory,
    StaffDirectoryError,
    StaffMember,
    load_staff,
    token_digest,
)

MIN_PASSWORD = 12


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = ReviewSettings()
    path: Path = args.file or settings.staff_file
    try:
        policy = load_policy(settings.policy_file)
        directory = load_staff(path, policy)
        staff = list(directory.staff)
        out = _run(args, staff)
        updated = StaffDirectory(staff=staff)
        write_staff_file(path, updated)
        load_staff(path, policy)
    except (PolicyError, StaffDirectoryError, CommandError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if out:
        print(out)
    return 0


class CommandError(Exception):
    pass


def _run(args: argparse.Namespace, staff: list[StaffMember]) -> str:
    if args.command == "add":
        if any(m.id == args.id for m in staff):
            raise CommandError(f"id: staff {args.id!r} already exists")
        try:
            staff.append(
                StaffMember(
                    id=args.id,
                    name=args.name,
                    email=args.email,
                    roles=args.role,
                    levels=args.level,
                    languages=args.language,
                    wiki_accounts=args.wiki_account,
                )
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        return f"added {args.id}"
    index = _find(staff, args.id)
    member = staff[index]
    if args.command == "set-password":
        password = _read_password(args.password_stdin)
        staff[index] = member.model_copy(update={"password_hash": hash_password(password)})
        return f"password set for {member.id}"
    if args.command == "issue-token":
        if any(t.name == args.name for t in member.tokens):
            raise CommandError(f"name: {member.id} already has a token named {args.name!r}")
        token = secrets.token_urlsafe(32)
        issued = ApiToken(name=args.name, sha256=token_digest(token))
        staff[index] = member.model_copy(update={"tokens": [*member.tokens, issued]})
        return token
    if args.command == "revoke-token":
        kept = [t for t in member.tokens if t.name != args.name]
        if len(kept) == len(member.tokens):
            raise CommandError(f"name: {member.id} has no token named {args.name!r}")
        staff[index] = member.model_copy(update={"tokens": kept})
        return f"revoked {member.id}'s token {args.name!r}"
    raise CommandError(f"unknown command {args.command!r}")


def _find(staff: list[StaffMember], staff_id: str) -> int:
    for i, member in enumerate(staff):
        if member.id == staff_id:
            return i
    raise CommandError(f"id: no staff member {staff_id!r}")


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


def write_staff_file(path: Path, directory: StaffDirectory) -> None:
    """Replace the staff file atomically (the running service re-reads it)."""
    body: dict[str, Any] = {
        "staff": [
            m.model_dump(mode="json", exclude_defaults=True, exclude_none=True)
            for m in directory.staff
        ]
    }
    text = "# Managed with `python -m services.review.staff`.\n" + yaml.safe_dump(
        body, sort_keys=False, allow_unicode=True
    )
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.review.staff")
    parser.add_argument("--file", type=Path, help="staff file (default: REVIEW_STAFF_FILE)")
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
    revoke = commands.add_parser("revoke-token", help="revoke an API token by name")
    revoke.add_argument("id")
    revoke.add_argument("--name", required=True)
    return parser
