"""Settings from the environment, one class per service, validated at start-up.

Every variable is listed in the README's configuration table. A bad value
stops the service with an error naming the variable and the rule.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import ClassVar, Literal, Self, TypeVar

from pydantic import Field, FilePath, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from casework.kafka import KafkaSettings

REPO_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    pass


S = TypeVar("S", bound="ServiceSettings")


class ServiceSettings(BaseSettings):
    """What every service needs; subclasses add their own port and adapters."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)
    SERVICE: ClassVar[str]

    data_dir: Path = Field(REPO_ROOT / "var", validation_alias="CASEWORK_DATA_DIR")
    http_host: str = Field("127.0.0.1", validation_alias="CASEWORK_HTTP_HOST")
    policy_file: Path = Field(
        REPO_ROOT / "policy" / "office-actions.yaml", validation_alias="CASEWORK_POLICY_FILE"
    )
    kafka_bootstrap: str = Field("127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    # 3 s: a SIGKILLed member leaves the group (and a restarted one is back at work) within
    # about 4 s on the embedded broker; on a real cluster use static membership and a
    # longer timeout instead (README "Consumers").
    kafka_session_timeout_ms: int = Field(
        3_000, ge=1000, validation_alias="KAFKA_SESSION_TIMEOUT_MS"
    )
    kafka_handler_concurrency: int = Field(
        32, ge=1, le=1024, validation_alias="KAFKA_HANDLER_CONCURRENCY"
    )
    # Static membership (group.instance.id = CASEWORK_INSTANCE_ID): off by default, since
    # Tansu holds every join of a static member for 8-10 s.
    kafka_static_membership: bool = Field(False, validation_alias="KAFKA_STATIC_MEMBERSHIP")
    kafka_partitions: int = Field(4, ge=1, validation_alias="KAFKA_TOPIC_PARTITIONS")
    kafka_replication: int = Field(1, ge=1, validation_alias="KAFKA_REPLICATION_FACTOR")
    # Bus authentication (README "Bus authentication"): each service its own SCRAM user.
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] = Field(
        "PLAINTEXT", validation_alias="KAFKA_SECURITY_PROTOCOL"
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "SCRAM-SHA-512", validation_alias="KAFKA_SASL_MECHANISM"
    )
    kafka_sasl_username: str | None = Field(
        None, min_length=1, max_length=200, validation_alias="KAFKA_SASL_USERNAME"
    )
    kafka_sasl_password: SecretStr | None = Field(None, validation_alias="KAFKA_SASL_PASSWORD")
    kafka_sasl_password_file: FilePath | None = Field(
        None, validation_alias="KAFKA_SASL_PASSWORD_FILE"
    )
    kafka_ssl_cafile: FilePath | None = Field(None, validation_alias="KAFKA_SSL_CAFILE")
    kafka_ssl_certfile: FilePath | None = Field(None, validation_alias="KAFKA_SSL_CERTFILE")
    kafka_ssl_keyfile: FilePath | None = Field(None, validation_alias="KAFKA_SSL_KEYFILE")
    # Names this instance in leases; unset: host name and HTTP port, which stay the same
    # when the instance restarts (so it takes its own leases back at once) and differ
    # between instances (two cannot listen on one port of one host).
    instance_id_override: str | None = Field(
        None, min_length=1, max_length=200, validation_alias="CASEWORK_INSTANCE_ID"
    )
    lease_seconds: float = Field(15.0, gt=0, le=600, validation_alias="CASEWORK_LEASE_SECONDS")
    outbox_poll_seconds: float = Field(
        0.25, gt=0, le=60, validation_alias="CASEWORK_OUTBOX_POLL_SECONDS"
    )
    # Published outbox entries are kept this long, to be published again when the bus
    # loses data; the watch that notices it checks every CASEWORK_BUS_CHECK_SECONDS.
    outbox_retention_seconds: float = Field(
        86_400.0, ge=60, validation_alias="CASEWORK_OUTBOX_RETENTION_SECONDS"
    )
    bus_check_seconds: float = Field(
        2.0, gt=0, le=600, validation_alias="CASEWORK_BUS_CHECK_SECONDS"
    )
    # A consumer without progress this long (records waiting) turns /healthz to 503.
    stall_seconds: float = Field(30.0, gt=0, le=3600, validation_alias="CASEWORK_STALL_SECONDS")
    mongodb_uri: str | None = Field(None, validation_alias="MONGODB_URI")
    # Review signs with its private key; enforcement, notify and the monitor trust these
    # public keys (comma-separated PEM files; old and new ones during a rotation).
    # Unset: the embedded stack's demo pair under <data dir>/keys.
    signing_key_file_override: Path | None = Field(None, validation_alias="REVIEW_SIGNING_KEY_FILE")
    review_public_keys_override: str | None = Field(
        None, min_length=1, validation_alias="CASEWORK_REVIEW_PUBLIC_KEYS"
    )
    # Subclasses redeclare these two with <SERVICE>_PORT / <SERVICE>_STORE_URL aliases.
    port: int = Field(8080, ge=1, le=65535)
    store_url_override: str | None = None

    @model_validator(mode="after")
    def _kafka_security_complete(self) -> Self:
        if self.kafka_security_protocol.startswith("SASL_"):
            if not self.kafka_sasl_username:
                raise ValueError(f"{self.kafka_security_protocol} needs KAFKA_SASL_USERNAME")
            if not self.kafka_password():
                raise ValueError(
                    f"{self.kafka_security_protocol} needs KAFKA_SASL_PASSWORD_FILE "
                    "(non-empty) or KAFKA_SASL_PASSWORD"
                )
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            raise ValueError("KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE go together")
        return self

    def kafka_password(self) -> str | None:
        """The bus password: from KAFKA_SASL_PASSWORD_FILE if set (it wins), else
        KAFKA_SASL_PASSWORD."""
        if self.kafka_sasl_password_file is not None:
            return self.kafka_sasl_password_file.read_text(encoding="utf-8").strip() or None
        return self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None

    @property
    def instance_id(self) -> str:
        return self.instance_id_override or f"{socket.gethostname()}:{self.port}"

    @property
    def signing_key_file(self) -> Path:
        return self.signing_key_file_override or self.data_dir / "keys" / "review-signing.pem"

    @property
    def review_public_key_files(self) -> list[Path]:
        if self.review_public_keys_override:
            return [
                Path(p.strip()) for p in self.review_public_keys_override.split(",") if p.strip()
            ]
        return [self.data_dir / "keys" / "review-public.pem"]

    @property
    def store_url(self) -> str:
        """Explicit <SERVICE>_STORE_URL, else MONGODB_URI with a database per service,
        else a SQLite file under the data directory."""
        if self.store_url_override:
            return self.store_url_override
        return store_url_for(self.SERVICE, data_dir=self.data_dir, mongodb_uri=self.mongodb_uri)

    def kafka(self) -> KafkaSettings:
        return KafkaSettings(
            bootstrap_servers=self.kafka_bootstrap,
            client_id=f"casework-{self.SERVICE}",
            session_timeout_ms=self.kafka_session_timeout_ms,
            handler_concurrency=self.kafka_handler_concurrency,
            position_check_seconds=self.bus_check_seconds,
            group_instance_id=self.instance_id if self.kafka_static_membership else None,
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password=self.kafka_password(),
            ssl_cafile=_str_or_none(self.kafka_ssl_cafile),
            ssl_certfile=_str_or_none(self.kafka_ssl_certfile),
            ssl_keyfile=_str_or_none(self.kafka_ssl_keyfile),
        )


def _str_or_none(path: Path | None) -> str | None:
    return None if path is None else str(path)


def store_url_for(service: str, *, data_dir: Path, mongodb_uri: str | None) -> str:
    """A service's default store: with ``mongodb_uri`` its database ``casework_<service>``
    on that server, else the SQLite file ``<data_dir>/<service>.sqlite3``."""
    if mongodb_uri:
        base = mongodb_uri.split("?", 1)
        path_free = base[0].rstrip("/")
        if path_free.count("/") > 2:
            path_free = path_free.rsplit("/", 1)[0]
        query = f"?{base[1]}" if len(base) > 1 else ""
        return f"{path_free}/casework_{service}{query}"
    return f"sqlite:///{(data_dir / f'{service}.sqlite3').resolve()}"


def load_settings(cls: type[S]) -> S:
    try:
        return cls()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"configuration of {cls.SERVICE}: {problems}") from exc


class RoleAccountSettings(BaseSettings):
    """The operator's role account on the wikis (a bot password).

    The defaults are the sandbox wiki's demo credentials (deploy/sandbox_wiki.py).
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    wiki_username: str = Field("OfficeActions@casework", validation_alias="WIKI_USERNAME")
    wiki_password: str = Field(
        "caseworkoperatorpassword00000000", validation_alias="WIKI_PASSWORD", repr=False
    )
    public_log_page: str = Field("Office actions log", validation_alias="PUBLIC_LOG_PAGE")


def read_token(path: Path, variable: str) -> str:
    """A service-to-service bearer token from its secrets file (ConfigError names it)."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{variable}: cannot read {path} ({exc.strerror})") from exc
    if len(token) < 16:
        raise ConfigError(f"{variable}: the token in {path} is shorter than 16 characters")
    return token


class LedgerSettings(BaseSettings):
    """A service whose downstreams reconcile from it: the tokens its ledger API accepts,
    one file per reader (comma-separated; review has two readers: enforcement, notify).

    Unset: the ledger answers 401 to everyone (there is no one to serve)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    ledger_token_file: str | None = Field(
        None, min_length=1, validation_alias="CASEWORK_LEDGER_TOKEN_FILE"
    )

    def ledger_tokens(self) -> list[str]:
        if self.ledger_token_file is None:
            return []
        files = [Path(f.strip()) for f in self.ledger_token_file.split(",") if f.strip()]
        return [read_token(f, "CASEWORK_LEDGER_TOKEN_FILE") for f in files]


class ReconcileSettings(BaseSettings):
    """A service that reconciles from an upstream's ledger (casework.reconcile): how often."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    reconcile_seconds: float = Field(
        60.0, gt=0, le=3600, validation_alias="CASEWORK_RECONCILE_SECONDS"
    )


class UpstreamSettings(ReconcileSettings):
    """A service that reconciles from its upstream's ledger (casework.reconcile).

    Unset URL: no reconciliation duty (a lone service in a test)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    upstream_url: str | None = Field(
        None, pattern=r"^https?://[^/\s]+(/\S*)?$", validation_alias="CASEWORK_UPSTREAM_URL"
    )
    upstream_token_file: Path | None = Field(None, validation_alias="CASEWORK_UPSTREAM_TOKEN_FILE")

    def upstream_token(self) -> str:
        if self.upstream_token_file is None:
            raise ConfigError("CASEWORK_UPSTREAM_TOKEN_FILE: required with CASEWORK_UPSTREAM_URL")
        return read_token(self.upstream_token_file, "CASEWORK_UPSTREAM_TOKEN_FILE")


class ReviewLedgerSettings(BaseSettings):
    """Notify's second upstream: review's ledger of approvals (notify tells nobody
    without review's signed approval, and an approval it never read leaves a case untold).

    Unset URL: no reconciliation from review."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    review_ledger_url: str | None = Field(
        None, pattern=r"^https?://[^/\s]+(/\S*)?$", validation_alias="CASEWORK_REVIEW_LEDGER_URL"
    )
    review_ledger_token_file: Path | None = Field(
        None, validation_alias="CASEWORK_REVIEW_LEDGER_TOKEN_FILE"
    )

    def review_ledger_token(self) -> str:
        if self.review_ledger_token_file is None:
            raise ConfigError(
                "CASEWORK_REVIEW_LEDGER_TOKEN_FILE: required with CASEWORK_REVIEW_LEDGER_URL"
            )
        return read_token(self.review_ledger_token_file, "CASEWORK_REVIEW_LEDGER_TOKEN_FILE")
