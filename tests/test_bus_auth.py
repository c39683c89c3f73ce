"""Bus authentication against the real embedded broker (Tansu behind the SASL gate).

A client without SASL, with a wrong password or as an unknown user can neither
produce, consume nor list topics; a signed-in one can, under SCRAM-SHA-256 and -512,
over plain TCP and over TLS (a self-signed certificate made here).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import stat
import struct
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import faust
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import create_conn
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.protocol.metadata import MetadataRequest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from casework.config import ConfigError, load_settings
from casework.kafka import KafkaSettings, ensure_topics
from deploy.broker import TansuBroker
from deploy.credentials import PRINCIPALS, BusCredentials
from services.intake.settings import IntakeSettings
from services.monitor.entrypoints.streams import broker_credentials
from tests.fixtures.broker import kafka_broker, unique  # noqa: F401
from tests.support import free_port

REFUSED = (KafkaError, OSError, asyncio.TimeoutError)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost and its key, PEM files in ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "casework test broker")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "broker.crt", directory / "broker.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def round_trip(settings: KafkaSettings) -> list[bytes]:
    """Create a topic, produce one record, list topics and consume it back."""
    topic = unique("auth")
    await ensure_topics(settings, [topic], partitions=1)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_idempotence=False,
        request_timeout_ms=5000,
        **settings.client_options(),
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"signed in")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **settings.client_options(),
    )
    await consumer.start()
    try:
        assert topic in await consumer.topics()
        async with asyncio.timeout(10):
            while True:
                batch = await consumer.getmany(timeout_ms=200)
                if batch:
                    return [r.value for records in batch.values() for r in records]
    finally:
        await consumer.stop()


async def refused_everything(settings: KafkaSettings) -> None:
    """Producer, consumer and admin client all fail to start: nothing is produced,
    consumed or listed."""
    options = {
        "bootstrap_servers": settings.bootstrap_servers,
        "request_timeout_ms": 3000,
        **settings.client_options(),
    }
    producer = AIOKafkaProducer(**options)
    with pytest.raises(REFUSED):
        async with asyncio.timeout(20):
            await producer.start()
    await producer.stop()
    consumer = AIOKafkaConsumer("officeactions.intake", **options)
    with pytest.raises(REFUSED):
        async with asyncio.timeout(20):
            await consumer.start()
    await consumer.stop()
    admin = AIOKafkaAdminClient(**options)
    with pytest.raises(REFUSED):
        async with asyncio.timeout(20):
            await admin.start()
            await admin.list_topics()
    await admin.close()


@pytest.fixture
def signed_in(kafka_broker: TansuBroker) -> KafkaSettings:
    return kafka_broker.settings(client_id=unique("auth"), request_timeout_ms=5000)


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_a_signed_in_client_produces_lists_and_consumes(
    signed_in: KafkaSettings, mechanism: str
) -> None:
    assert await round_trip(replace(signed_in, sasl_mechanism=mechanism)) == [b"signed in"]


@pytest.mark.parametrize("principal", PRINCIPALS)
async def test_every_service_principal_signs_in_with_its_own_password(
    kafka_broker: TansuBroker,
    principal: str,
) -> None:
    settings = kafka_broker.settings(principal, client_id=unique(principal))
    assert await round_trip(settings) == [b"signed in"]
    other = next(p for p in PRINCIPALS if p != principal)
    await refused_everything(replace(settings, sasl_password=kafka_broker.users[other]))


async def test_a_client_without_sasl_is_refused(signed_in: KafkaSettings) -> None:
    await refused_everything(
        KafkaSettings(signed_in.bootstrap_servers, client_id="anonymous", request_timeout_ms=3000)
    )


async def test_a_wrong_password_or_unknown_user_is_refused(signed_in: KafkaSettings) -> None:
    await refused_everything(replace(signed_in, sasl_password="not-the-password"))
    await refused_everything(replace(signed_in, sasl_username="mallory"))


async def test_the_broker_answers_sasl_failures_and_unauthenticated_requests_like_kafka(
    signed_in: KafkaSettings,
) -> None:
    host, port = signed_in.bootstrap_servers.split(":")
    # Only ApiVersions and the SASL exchange are answered before signing in; a Metadata
    # request (what lists topics and precedes every produce/fetch) closes the connection.
    anonymous = await create_conn(host, int(port), request_timeout_ms=3000)
    try:
        with pytest.raises(KafkaConnectionError):
            await anonymous.send(MetadataRequest([]))
    finally:
        anonymous.close()
    for wrong in (
        {"sasl_plain_username": "ops", "sasl_plain_password": "wrong"},
        {"sasl_plain_username": "mallory", "sasl_plain_password": "wrong"},
    ):
        with pytest.raises(SaslAuthenticationFailed):
            await create_conn(
                host,
                int(port),
                request_timeout_ms=3000,
                security_protocol="SASL_PLAINTEXT",
                sasl_mechanism="SCRAM-SHA-512",
                **wrong,
            )
    good = await create_conn(host, int(port), request_timeout_ms=3000, **signed_in.client_options())
    try:
        metadata = await good.send(MetadataRequest([]))
        assert metadata.brokers
    finally:
        good.close()


async def test_garbage_or_another_mechanism_before_sign_in_closes_only_that_connection(
    signed_in: KafkaSettings,
) -> None:
    host, port = signed_in.bootstrap_servers.split(":")
    junk = [
        struct.pack(">i", 0x7FFFFFFF),  # a frame too big to be a sign-in request
        struct.pack(">i", 4) + b"abcd",  # too short for a request header
        # a SaslAuthenticate whose body is cut short
        struct.pack(">i", 12) + struct.pack(">hhih", 36, 1, 7, -1) + b"\0\0",
    ]
    for data in junk:
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(5):
            assert await reader.read() == b""  # closed by the broker
        writer.close()
    with pytest.raises(UnsupportedSaslMechanismError):
        await create_conn(
            host,
            int(port),
            request_timeout_ms=3000,
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="PLAIN",
            sasl_plain_username="ops",
            sasl_plain_password=signed_in.sasl_password,
        )
    assert await round_trip(signed_in) == [b"signed in"]


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    cert, key = self_signed(tmp_path_factory.mktemp("tls"))
    broker = TansuBroker(free_port(), users={"ops": "tls-ops-password"}, tls=(cert, key))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
async def tls_settings(tls_broker: TansuBroker) -> AsyncIterator[KafkaSettings]:
    yield tls_broker.settings(client_id=unique("tls"), request_timeout_ms=5000)


async def test_sasl_over_tls_works_and_plain_tcp_or_an_untrusted_cert_is_refused(
    tls_settings: KafkaSettings,
) -> None:
    assert tls_settings.security_protocol == "SASL_SSL"
    assert await round_trip(tls_settings) == [b"signed in"]
    # The right password, but not over TLS.
    await refused_everything(replace(tls_settings, security_protocol="SASL_PLAINTEXT"))
    # Over TLS, but trusting only the system's CAs: the self-signed certificate fails.
    await refused_everything(replace(tls_settings, ssl_cafile=None))
    await refused_everything(replace(tls_settings, sasl_password="wrong"))


def test_settings_read_the_password_file_first_and_validate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "kafka-intake.password"
    secret.write_text("from-the-file\n")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "intake")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "from-the-variable")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_FILE", str(secret))
    kafka = load_settings(IntakeSettings).kafka()
    assert (kafka.sasl_username, kafka.sasl_password) == ("intake", "from-the-file")
    assert kafka.client_options() == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "intake",
        "sasl_plain_password": "from-the-file",
    }
    assert "from-the-file" not in repr(kafka)

    monkeypatch.delenv("KAFKA_SASL_PASSWORD_FILE")
    assert load_settings(IntakeSettings).kafka().sasl_password == "from-the-variable"

    monkeypatch.delenv("KAFKA_SASL_PASSWORD")
    with pytest.raises(ConfigError, match="KAFKA_SASL_PASSWORD"):
        load_settings(IntakeSettings)
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="KAFKA_SASL_PASSWORD_FILE"):
        load_settings(IntakeSettings)
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_TLS")
    with pytest.raises(ConfigError, match="KAFKA_SECURITY_PROTOCOL"):
        load_settings(IntakeSettings)
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_FILE", str(secret))
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "PLAIN")
    with pytest.raises(ConfigError, match="KAFKA_SASL_MECHANISM"):
        load_settings(IntakeSettings)
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SSL_CERTFILE", str(secret))
    with pytest.raises(ConfigError, match="KAFKA_SSL_KEYFILE"):
        load_settings(IntakeSettings)


def test_tls_settings_give_aiokafka_and_faust_a_verifying_context(tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path)
    kafka = KafkaSettings(
        "127.0.0.1:9093",
        security_protocol="SASL_SSL",
        sasl_username="monitor",
        sasl_password="pw",
        ssl_cafile=str(cert),
    )
    context = kafka.client_options()["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    credentials = broker_credentials(kafka)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert (credentials.username, credentials.password) == ("monitor", "pw")
    assert isinstance(credentials.ssl_context, ssl.SSLContext)
    assert broker_credentials(KafkaSettings("127.0.0.1:9092")) is None
    with pytest.raises(ValueError, match="SASL username and password"):
        KafkaSettings("h:1", security_protocol="SASL_PLAINTEXT", sasl_username="x")


def test_generated_credentials_are_private_stable_and_per_principal(tmp_path: Path) -> None:
    credentials = BusCredentials(tmp_path / "secrets")
    first = credentials.ensure()
    assert set(first) == set(PRINCIPALS)
    assert len(set(first.values())) == len(PRINCIPALS)
    assert credentials.ensure() == first
    for principal in PRINCIPALS:
        mode = stat.S_IMODE(credentials.password_file(principal).stat().st_mode)
        assert mode == 0o600
    env = credentials.service_environment("notify")
    assert env["KAFKA_SASL_USERNAME"] == "notify"
    assert Path(env["KAFKA_SASL_PASSWORD_FILE"]).read_text().strip() == first["notify"]


def test_starts_racing_to_generate_the_passwords_agree(tmp_path: Path) -> None:
    credentials = BusCredentials(tmp_path / "secrets")
    barrier = threading.Barrier(16)

    def start() -> dict[str, str]:
        barrier.wait(timeout=10)
        return credentials.ensure()

    with ThreadPoolExecutor(16) as pool:
        seen = list(pool.map(lambda _: start(), range(16)))
    assert all(found == seen[0] for found in seen)
    assert all(seen[0].values())
    assert sorted(p.name for p in credentials.directory.iterdir()) == sorted(
        credentials.password_file(p).name for p in PRINCIPALS
    )
