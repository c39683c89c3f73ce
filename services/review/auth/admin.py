"""Staff management for the `admin` role: list, add, set roles, levels and languages,
disable, issue (with an expiry) and revoke API tokens, and one-time links with which a
person sets their own password (the admin never knows it). The console and the JSON API
both call this; every change is a version-checked write of the member's document in
review's store (services/review/auth/directory.py), recorded in the staff change log."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from casework.contract import AwareDatetime, Language
from casework.errors import Kind, Rejected
from casework.policy.access import AccessRules, Role
from casework.store import Document, DocumentStore, OutboxMessage
from casework.text import ONE_LINE
from casework.updates import NotFound, update_document
from services.review.auth.directory import STAFF_CHANGES, LiveStaff, StaffChange, StaffRecords
from services.review.auth.passwords import MIN_PASSWORD, hash_password
from services.review.auth.policy import authorize, can
from services.review.auth.token_uses import TokenUses
from services.review.domain.permissions import Action
from services.review.domain.staff import ApiToken, StaffMember, token_digest, token_expiry

__all__ = ["STAFF_CHANGES", "StaffChange"]

PASSWORD_LINKS = "password_links"
STAFF_ID = r"^[a-z0-9][a-z0-9._-]{0,63}$"
Clock = Callable[[], datetime]
Level = Annotated[str, Field(min_length=1, max_length=64), ONE_LINE]
WikiAccount = Annotated[str, Field(min_length=1, max_length=255), ONE_LINE]


class NewStaffForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(pattern=STAFF_ID)]
    name: Annotated[str, Field(min_length=1, max_length=200), ONE_LINE]
    email: Annotated[str, Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$"), ONE_LINE]
    roles: Annotated[list[Role], Field(max_length=20)] = []
    levels: Annotated[list[Level], Field(max_length=20)] = []
    languages: Annotated[list[Language], Field(min_length=1, max_length=50)]
    wiki_accounts: Annotated[list[WikiAccount], Field(max_length=50)] = []


class StaffUpdateForm(BaseModel):
    """What an admin sets on an account: roles, sign-off levels, language competences."""

    model_config = ConfigDict(extra="forbid")

    roles: Annotated[list[Role], Field(max_length=20)] = []
    levels: Annotated[list[Level], Field(max_length=20)] = []
    languages: Annotated[list[Language], Field(min_length=1, max_length=50)]


class DisabledForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    disabled: StrictBool


class TokenForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
    expires_on: date | None = Field(None, description="Last day it works (UTC); default +90.")


class PasswordForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: Annotated[str, Field(min_length=MIN_PASSWORD, max_length=1000)]
    again: Annotated[str, Field(max_length=1000)]


class TokenSummary(BaseModel):
    """An API token as the admin sees it: never the token or its digest."""

    name: str = Field(description="Unique per staff member; revoke by this name.")
    created_at: AwareDatetime | None = Field(description="Unknown for tokens made earlier.")
    created_by: str | None
    last_used_at: AwareDatetime | None = Field(
        description="Last use, to within a minute; null if never used since recorded."
    )
    expires_at: AwareDatetime | None = Field(description="Null: issued before expiry was kept.")

    @classmethod
    def of(cls, token: ApiToken, last_used: Mapping[str, datetime]) -> TokenSummary:
        return cls(
            name=token.name,
            created_at=token.created_at,
            created_by=token.created_by,
            last_used_at=last_used.get(token.sha256),
            expires_at=token.expires_at,
        )


class TokenList(BaseModel):
    tokens: list[TokenSummary]


class StaffSummary(BaseModel):
    """A staff member as the admin sees them: never a credential, only their tokens'
    names and times."""

    id: str
    name: str
    email: str
    roles: list[Role]
    levels: list[str]
    languages: list[str]
    wiki_accounts: list[str]
    disabled: bool
    has_password: bool
    tokens: list[TokenSummary]

    @classmethod
    def of(cls, member: StaffMember, last_used: Mapping[str, datetime]) -> StaffSummary:
        tokens = [TokenSummary.of(t, last_used) for t in member.tokens]
        return cls(**member.public(), has_password=member.password_hash is not None, tokens=tokens)


class StaffList(BaseModel):
    staff: list[StaffSummary]


class StaffChanges(BaseModel):
    changes: list[StaffChange]


class IssuedToken(BaseModel):
    name: str
    token: str = Field(description="Shown once; only its SHA-256 is kept.")
    expires_at: AwareDatetime


class PasswordLink(BaseModel):
    path: str = Field(description="Open it to set the password; works once.")
    expires_at: AwareDatetime


def _invalid(field: str, rule: str, message: str) -> Rejected:
    return Rejected.one(Kind.INVALID, "validation_failed", field, rule, message)


def _not_found(staff_id: str) -> Rejected:
    return Rejected.one(
        Kind.NOT_FOUND, "not_found", "staff_id", "exists", f"no staff member {staff_id!r}"
    )


def _link_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class StaffAdmin:
    def __init__(
        self,
        staff: LiveStaff,
        rules: AccessRules,
        clock: Clock,
        link_lifetime: timedelta = timedelta(hours=24),
        uses: TokenUses | None = None,
    ) -> None:
        self.staff = staff
        self.records: StaffRecords = staff.records
        self.store: DocumentStore = staff.records.store
        self.rules = rules
        self.clock = clock
        self.link_lifetime = link_lifetime
        self.uses = uses or TokenUses(self.store)

    # -- reads -------------------------------------------------------------------------

    async def all_staff(self, actor: StaffMember) -> StaffList:
        authorize(actor, Action.MANAGE_STAFF, rules=self.rules)
        members = self.staff.current().staff
        used = await self.uses.last_used([t.sha256 for m in members for t in m.tokens])
        return StaffList(staff=[StaffSummary.of(m, used) for m in members])

    async def member(self, actor: StaffMember, staff_id: str) -> StaffSummary:
        authorize(actor, Action.MANAGE_STAFF, rules=self.rules)
        found = self.staff.current().by_id(staff_id)
        if found is None:
            raise _not_found(staff_id)
        used = await self.uses.last_used([t.sha256 for t in found.tokens])
        return StaffSummary.of(found, used)

    async def tokens(self, actor: StaffMember, staff_id: str) -> TokenList:
        return TokenList(tokens=(await self.member(actor, staff_id)).tokens)

    async def changes(self, actor: StaffMember, limit: int = 100) -> StaffChanges:
        authorize(actor, Action.MANAGE_STAFF, rules=self.rules)
        docs = await self.store.find(STAFF_CHANGES, order_by="at", descending=True, limit=limit)
        return StaffChanges(
            changes=[
                StaffChange.model_validate({k: v for k, v in d.items() if not k.startswith("_")})
                for d in docs
            ]
        )

    # -- changes -----------------------------------------------------------------------

    async def add(self, actor: StaffMember, form: NewStaffForm) -> StaffSummary:
        authorize(actor, Action.MANAGE_STAFF, rules=self.rules)
        member = StaffMember.model_validate(form.model_dump())
        detail = f"roles {_names(form.roles)}; levels {_names(form.levels)}"
        await self.records.add(member, actor.id, "added", detail)
        return await self._after(actor, form.id)

    async def update(
        self, actor: StaffMember, staff_id: str, form: StaffUpdateForm
    ) -> StaffSummary:
        def edit(member: StaffMember) -> StaffMember:
            updated = member.model_copy(update=form.model_dump())
            if staff_id == actor.id and not can(updated, Action.MANAGE_STAFF, rules=self.rules):
                raise _self_lockout("roles", "an admin cannot take away their own admin role")
            return updated

        detail = (
            f"roles {_names(form.roles)}; levels {_names(form.levels)}; "
            f"languages {_names(form.languages)}"
        )
        await self._change(actor, staff_id, "updated", detail, edit)
        return await self._after(actor, staff_id)

    async def set_disabled(
        self, actor: StaffMember, staff_id: str, form: DisabledForm
    ) -> StaffSummary:
        if staff_id == actor.id and form.disabled:
            raise _self_lockout("disabled", "an admin cannot disable their own account")

        def edit(member: StaffMember) -> StaffMember:
            return member.model_copy(update={"disabled": form.disabled})

        change = "disabled" if form.disabled else "enabled"
        await self._change(actor, staff_id, change, "", edit)
        return await self._after(actor, staff_id)

    async def issue_token(self, actor: StaffMember, staff_id: str, form: TokenForm) -> IssuedToken:
        token = secrets.token_urlsafe(32)
        try:
            expires_at = token_expiry(form.expires_on, self.clock())
        except ValueError as exc:
            raise _invalid("expires_on", "within_a_year", f"expires_on: {exc}") from exc
        issued = ApiToken(
            name=form.name,
            sha256=token_digest(token),
            created_at=self.clock(),
            created_by=actor.id,
            expires_at=expires_at,
        )

        def edit(member: StaffMember) -> StaffMember:
            if any(t.name == form.name for t in member.tokens):
                raise Rejected.one(
                    Kind.CONFLICT,
                    "exists",
                    "name",
                    "unique",
                    f"{staff_id} already has a token named {form.name!r}",
                )
            return member.model_copy(update={"tokens": [*member.tokens, issued]})

        await self._change(actor, staff_id, "token-issued", form.name, edit)
        await self.staff.load()
        return IssuedToken(name=form.name, token=token, expires_at=expires_at)

    async def revoke_token(self, actor: StaffMember, staff_id: str, name: str) -> StaffSummary:
        """Revoke any token by name, seeded ones included: refused by this instance at
        once, by the others within REVIEW_STAFF_REFRESH_SECONDS."""
        revoked: list[ApiToken] = []

        def edit(member: StaffMember) -> StaffMember:
            kept = [t for t in member.tokens if t.name != name]
            if len(kept) == len(member.tokens):
                raise _not_a_token(staff_id, name)
            revoked[:] = [t for t in member.tokens if t.name == name]
            return member.model_copy(update={"tokens": kept})

        authorize(actor, Action.MANAGE_STAFF, rules=self.rules)
        if self.staff.current().by_id(staff_id) is None:
            raise _not_found(staff_id)
        await self._change(actor, staff_id, "token-revoked", name, edit)
        for token in revoked:
            await self.uses.forget(token.sha256)
        return await self._after(actor, staff_id)

    async def password_link(self, actor: StaffMember, staff_id: str) -> PasswordLink:
        """A link with which the person sets their own password; it works once."""
        authorize(actor, Action.MANAGE_STAFF, rules=self.rules)
        if await self.records.get(staff_id) is None:
            raise _not_found(staff_id)
        token = secrets.token_urlsafe(32)
        now = self.clock()
        expires = now + self.link_lifetime
        await self.store.insert(
            PASSWORD_LINKS,
            {
                "_id": _link_digest(token),
                "staff_id": staff_id,
                "created_by": actor.id,
                "expires_at": expires.isoformat(),
                "used_at": None,
            },
        )
        await self.records.record(
            actor.id, staff_id, "password-link-issued", f"until {expires:%Y-%m-%d %H:%M}"
        )
        return PasswordLink(path=f"/console/password/{token}", expires_at=expires)

    async def link_holder(self, token: str) -> StaffMember | None:
        """Whose password the link sets, if it is unused and unexpired."""
        doc = await self.store.get(PASSWORD_LINKS, _link_digest(token))
        if doc is None or doc["used_at"] is not None:
            return None
        if datetime.fromisoformat(doc["expires_at"]) <= self.clock():
            return None
        return await self.records.get(doc["staff_id"])

    async def set_password(self, token: str, form: PasswordForm) -> StaffMember:
        """Set the link holder's password and use the link up (first, so it never works
        twice: a failure after that means asking the admin for a new link)."""
        if form.again != form.password:
            raise _invalid("again", "matches_password", "the two entries differ")
        member = await self.link_holder(token)
        if member is None:
            raise _link_gone()
        now = self.clock()

        def use(doc: Document) -> tuple[Document, list[OutboxMessage]]:
            if doc["used_at"] is not None:
                raise _link_gone()
            return {**doc, "used_at": now.isoformat()}, []

        try:
            await update_document(self.store, PASSWORD_LINKS, _link_digest(token), use)
        except NotFound:
            raise _link_gone() from None
        hashed = hash_password(form.password)

        def edit(current: StaffMember) -> StaffMember:
            return current.model_copy(update={"password_hash": hashed})

        updated = await self.records.change(
            member.id, edit, member.id, "password-set", "through a one-time link"
        )
        await self.staff.load()
        return updated

    # -- internals ---------------------------------------------------------------------

    async def _change(
        self,
        actor: StaffMember,
        staff_id: str,
        change: str,
        detail: str,
        edit: Callable[[StaffMember], StaffMember],
    ) -> None:
        authorize(actor, Action.MANAGE_STAFF, rules=self.rules)
        await self.records.change(staff_id, edit, actor.id, change, detail)

    async def _after(self, actor: StaffMember, staff_id: str) -> StaffSummary:
        """The member as stored now; this instance's directory is reloaded at once."""
        await self.staff.load()
        return await self.member(actor, staff_id)


def _names(values: list[str] | list[Role]) -> str:
    return ", ".join(str(v) for v in values) or "none"


def _self_lockout(field: str, message: str) -> Rejected:
    return Rejected.one(Kind.FORBIDDEN, "self_lockout", field, "not_self", message)


def _not_a_token(staff_id: str, name: str) -> Rejected:
    return Rejected.one(
        Kind.NOT_FOUND,
        "not_found",
        "name",
        "known_token",
        f"{staff_id} has no token named {name!r}",
    )


def _link_gone() -> Rejected:
    return Rejected.one(
        Kind.NOT_FOUND,
        "link_unusable",
        "link",
        "unused_unexpired",
        "this link was used or has expired; ask an administrator for a new one",
    )
