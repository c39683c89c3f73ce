"""Review's OIDC pieces without a provider: matching the ID token to staff, the step-up
decision and its refusal in the sign-off, the ID token's claim and signature checks
(joserfc, with keys made here), and the settings and policy validation.
The walk through a real provider is tests/test_review_oidc.py."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from pydantic import ValidationError

from casework.contract.decision import SignerAuthentication
from casework.errors import Kind, Rejected
from casework.policy import load_policy
from casework.policy.review import StepUp
from services.review.adapters.staff_file import load_staff
from services.review.auth.claims import match_staff
from services.review.auth.oidc import (
    AuthRequest,
    OidcClientConfig,
    OidcError,
    OidcProvider,
    validate_claims,
)
from services.review.domain.rules import check_rules
from services.review.domain.signoff import SignOffForm, sign_off
from services.review.domain.stepup import TOKEN, check_step_up, step_up_shortfall
from services.review.settings import ReviewSettings
from tests.test_review_domain import drafted, sign, staff

ROOT = Path(__file__).resolve().parent.parent
POLICY = load_policy(ROOT / "policy" / "office-actions.yaml")
STAFF = load_staff(ROOT / "deploy" / "demo-staff.yaml", POLICY)
NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
RULE = StepUp(max_age_seconds=300, acr_values=["urn:casework:acr:mfa"])
CONFIG = OidcClientConfig(issuer="https://idp.test", client_id="review", client_secret="s")
MFA = SignerAuthentication(
    method="oidc", acr="urn:casework:acr:mfa", amr=["pwd", "otp"], auth_time=NOW
)


# -- matching the ID token to a staff member --------------------------------------------


def test_sub_names_the_staff_id() -> None:
    match = match_staff(STAFF, {"sub": "carol"}, "sub")
    assert match.member is not None and match.member.id == "carol"
    assert match.refusal == ""


def test_an_unknown_sub_is_refused() -> None:
    match = match_staff(STAFF, {"sub": "mallory", "email": "carol@officeactions.test"}, "sub")
    assert (match.member, match.refusal, match.login) == (None, "unknown", "mallory")


def test_a_verified_email_names_the_staff_member_whatever_its_case() -> None:
    claims = {"sub": "x-123", "email": "Carol@OfficeActions.test", "email_verified": True}
    match = match_staff(STAFF, claims, "email")
    assert match.member is not None and match.member.id == "carol"


@pytest.mark.parametrize("verified", [False, None, "true"])
def test_an_unverified_email_names_nobody(verified: Any) -> None:
    claims = {"sub": "ursula", "email": "tess@officeactions.test", "email_verified": verified}
    assert match_staff(STAFF, claims, "email").refusal == "email_unverified"


def test_a_disabled_member_is_refused() -> None:
    disabled = STAFF.model_copy(
        update={
            "staff": [
                m.model_copy(update={"disabled": True}) if m.id == "bob" else m for m in STAFF.staff
            ]
        }
    )
    match = match_staff(disabled, {"sub": "bob"}, "sub")
    assert (match.member, match.refusal, match.staff_id) == (None, "disabled", "bob")


def test_a_missing_claim_is_refused() -> None:
    assert match_staff(STAFF, {"sub": "carol"}, "email").refusal == "no_claim"


# -- the step-up decision ---------------------------------------------------------------


def test_no_rule_needs_nothing() -> None:
    assert step_up_shortfall(None, TOKEN, NOW) is None


def test_a_fresh_mfa_sign_in_meets_the_rule() -> None:
    assert step_up_shortfall(RULE, MFA, NOW + timedelta(seconds=299)) is None


def test_an_amr_second_factor_meets_the_rule_without_the_acr() -> None:
    entra = SignerAuthentication(method="oidc", acr="1", amr=["pwd", "mfa"], auth_time=NOW)
    assert step_up_shortfall(RULE, entra, NOW) is None


@pytest.mark.parametrize(
    ("how", "said"),
    [
        (TOKEN, "a token sign-in"),
        (SignerAuthentication(method="password", auth_time=NOW), "a password sign-in"),
        (None, "a unknown sign-in"),
        (MFA.model_copy(update={"auth_time": None}), "did not say when"),
        (MFA.model_copy(update={"auth_time": NOW - timedelta(seconds=301)}), "301 s ago"),
        (
            SignerAuthentication(
                method="oidc", acr="urn:casework:acr:pwd", amr=["pwd"], auth_time=NOW
            ),
            "needs a second factor",
        ),
    ],
)
def test_what_falls_short(how: SignerAuthentication | None, said: str) -> None:
    shortfall = step_up_shortfall(RULE, how, NOW)
    assert shortfall is not None and said in shortfall


def test_the_refusal_names_the_field_and_rule() -> None:
    with pytest.raises(Rejected) as caught:
        check_step_up(RULE, TOKEN, NOW)
    assert caught.value.kind is Kind.FORBIDDEN
    assert [(e.field, e.rule) for e in caught.value.errors] == [
        ("authentication", "fresh_strong_authentication")
    ]


# -- the sign-off enforces it and records how the signer signed in ----------------------


STEPPED_UP = {"legal-counsel": RULE, "director": RULE}


def _at_legal_counsel() -> Any:
    case = drafted()
    case, _ = sign(case, "alice", "case-handler")
    case, _ = sign(case, "bob", "ts-manager")
    return case


def test_a_level_with_a_rule_is_not_signed_with_a_token() -> None:
    form = SignOffForm(level="legal-counsel", verdict="approve", comment="Reviewed.")
    with pytest.raises(Rejected) as caught:
        sign_off(_at_legal_counsel(), form, staff("carol"), POLICY, NOW, TOKEN, STEPPED_UP)
    assert caught.value.errors[0].field == "authentication"


def test_a_stepped_up_signature_keeps_how_the_signer_signed_in() -> None:
    form = SignOffForm(level="legal-counsel", verdict="approve", comment="Reviewed.")
    case, _ = sign_off(_at_legal_counsel(), form, staff("carol"), POLICY, NOW, MFA, STEPPED_UP)
    assert case.signoffs[-1].authentication == MFA


def test_a_level_without_a_rule_is_signed_with_a_token() -> None:
    case, _ = sign(drafted(), "alice", "case-handler")
    form = SignOffForm(level="ts-manager", verdict="approve", comment="Reviewed.")
    case, _ = sign_off(case, form, staff("bob"), POLICY, NOW, TOKEN, STEPPED_UP)
    assert case.signoffs[-1].authentication == TOKEN


def test_the_shipped_policy_asks_no_step_up() -> None:
    """The demo and scripts sign every level with API tokens; a deployment with an
    identity provider turns it on (the example is in the file, commented out)."""
    assert POLICY.review.step_up == {}


def test_a_step_up_rule_for_an_unknown_level_is_a_policy_problem() -> None:
    review = POLICY.review.model_copy(update={"step_up": {"janitor": RULE}})
    policy = POLICY.model_copy(update={"review": review})
    assert "review.step_up.janitor: unknown sign-off level" in check_rules(policy)


def test_a_step_up_rule_needs_acr_values_and_a_positive_max_age() -> None:
    with pytest.raises(ValidationError, match="acr_values"):
        StepUp(max_age_seconds=60, acr_values=[])
    with pytest.raises(ValidationError, match="max_age_seconds"):
        StepUp(max_age_seconds=0, acr_values=["x"])


# -- the ID token -----------------------------------------------------------------------

KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})


def _claims(request: AuthRequest, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": CONFIG.issuer,
        "aud": CONFIG.client_id,
        "sub": "carol",
        "iat": now,
        "exp": now + 300,
        "nonce": request.nonce,
        "auth_time": now - 10,
        "acr": "urn:casework:acr:mfa",
        "amr": ["pwd", "otp"],
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _provider() -> OidcProvider:
    provider = OidcProvider(CONFIG, metadata={"id_token_signing_alg_values_supported": ["RS256"]})
    provider.keys = KeySet([KEY])
    return provider


async def test_a_signed_id_token_gives_how_the_person_signed_in() -> None:
    request = AuthRequest.new(max_age=300)
    token = jwt.encode({"alg": "RS256", "kid": "k1"}, _claims(request), KEY)
    signed_in = await _provider().check_id_token(None, token, request)  # type: ignore[arg-type]
    assert signed_in.claims["sub"] == "carol"
    assert signed_in.authentication.method == "oidc"
    assert signed_in.authentication.amr == ["pwd", "otp"]
    assert signed_in.authentication.acr == "urn:casework:acr:mfa"


async def test_an_id_token_signed_by_another_key_is_refused() -> None:
    request = AuthRequest.new()
    token = jwt.encode({"alg": "RS256", "kid": "k1"}, _claims(request), OTHER_KEY)
    provider = _provider()

    async def same_keys(_http: Any) -> KeySet:
        return KeySet([KEY])

    provider._load_keys = same_keys  # type: ignore[method-assign]  # the JWKS refetch
    with pytest.raises(OidcError, match="signature"):
        await provider.check_id_token(None, token, request)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"iss": "https://evil.test"}, "iss"),
        ({"aud": "someone-else"}, "aud"),
        ({"nonce": "replayed"}, "nonce"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"sub": None}, "sub"),
        ({"aud": ["review", "other"]}, "azp"),
    ],
)
def test_claims_that_are_refused(changes: dict[str, Any], said: str) -> None:
    request = AuthRequest.new()
    with pytest.raises(OidcError, match=said):
        validate_claims(_claims(request, **changes), CONFIG, request)


def test_an_authentication_older_than_the_max_age_asked_is_refused() -> None:
    request = AuthRequest.new(max_age=300)
    old = _claims(request, auth_time=int(time.time()) - 1000)
    with pytest.raises(OidcError, match="older than the max_age"):
        validate_claims(old, CONFIG, request)
    with pytest.raises(OidcError, match="auth_time missing"):
        validate_claims(_claims(request, auth_time=None), CONFIG, request)


def test_the_authorization_request_carries_pkce_state_nonce_and_the_step_up() -> None:
    provider = OidcProvider(CONFIG, metadata={"authorization_endpoint": "https://idp.test/auth"})
    request = AuthRequest.new(max_age=300, acr_values=("urn:casework:acr:mfa",))
    url = provider.authorization_url(request, "https://review.test/console/oidc/callback")
    for part in (
        "code_challenge_method=S256",
        f"code_challenge={request.code_challenge}",
        f"state={request.state}",
        f"nonce={request.nonce}",
        "max_age=300",
        "prompt=login",
        "acr_values=urn%3Acasework%3Aacr%3Amfa",
    ):
        assert part in url
    assert request.code_verifier not in url


# -- settings -----------------------------------------------------------------------------


def test_an_issuer_needs_a_client_id_and_secret() -> None:
    with pytest.raises(ValidationError, match="REVIEW_OIDC_CLIENT_ID: required"):
        ReviewSettings(REVIEW_OIDC_ISSUER="https://idp.test")


def test_password_sign_in_cannot_be_off_without_a_provider() -> None:
    with pytest.raises(ValidationError, match="REVIEW_PASSWORD_SIGNIN"):
        ReviewSettings(REVIEW_PASSWORD_SIGNIN=False)


def test_the_claim_is_sub_or_email() -> None:
    with pytest.raises(ValidationError, match=r"oidc_claim|REVIEW_OIDC_CLAIM"):
        ReviewSettings(REVIEW_OIDC_CLAIM="preferred_username")


def test_a_complete_provider_setting() -> None:
    settings = ReviewSettings(
        REVIEW_OIDC_ISSUER="https://idp.test",
        REVIEW_OIDC_CLIENT_ID="review",
        REVIEW_OIDC_CLIENT_SECRET="s3cret",
        REVIEW_OIDC_CLAIM="email",
        REVIEW_PASSWORD_SIGNIN=False,
    )
    assert settings.oidc_claim == "email" and not settings.password_sign_in
    assert "s3cret" not in repr(settings)
