"""Ed25519 signatures: review signs what may change a wiki or publish something; every
consumer checks them against review's public keys before it acts.

The signed bytes are a purpose line followed by the RFC 8785 (JCS) canonical JSON of the
payload, so a signature made for one purpose (a case event) can never be replayed as
another (a staff assertion is a JWS, whose signing input never holds a newline).

Keys are PEM files: review's private key (PKCS#8) and any number of public keys
(SubjectPublicKeyInfo) for the verifiers, several per file allowed. A key's id is derived
from the key itself, so a verifier never has to be told which id belongs to which key:
during a rotation it simply trusts both the old and the new public key.

    python -m casework.signing generate DIR   # review-signing.pem + review-public.pem
    python -m casework.signing key-id FILE    # the ids of the keys in a PEM file
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "Ed25519"
EVENT_PURPOSE = "casework-event-v1"
PRIVATE_KEY_NAME = "review-signing.pem"
PUBLIC_KEY_NAME = "review-public.pem"
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.DOTALL)


class KeyFileError(ValueError):
    """A key file that is missing, unreadable or not an Ed25519 key (names the file)."""


class SignatureRefused(ValueError):
    """A signature that is missing, malformed, by an untrusted key or not over these bytes."""


def key_id(public_key: Ed25519PublicKey) -> str:
    """``ed25519:`` and the first 16 bytes of the SHA-256 of the raw public key, in hex."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"ed25519:{hashlib.sha256(raw).hexdigest()[:32]}"


def signed_bytes(purpose: str, payload: Mapping[str, Any]) -> bytes:
    if "\n" in purpose:
        raise ValueError("purpose: one line")
    return purpose.encode() + b"\n" + rfc8785.dumps(dict(payload))


@dataclass(frozen=True)
class Signer:
    """Review's private key; ``sign`` answers the signature object carried with the payload."""

    private_key: Ed25519PrivateKey

    @property
    def key_id(self) -> str:
        return key_id(self.private_key.public_key())

    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def sign(self, purpose: str, payload: Mapping[str, Any]) -> dict[str, str]:
        value = self.private_key.sign(signed_bytes(purpose, payload))
        return {
            "alg": ALGORITHM,
            "key_id": self.key_id,
            "value": base64.urlsafe_b64encode(value).decode().rstrip("="),
        }

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@dataclass(frozen=True)
class TrustedKeys:
    """The public keys a verifier accepts, by key id (old and new during a rotation)."""

    keys: Mapping[str, Ed25519PublicKey]

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyFileError("no trusted public key")

    @classmethod
    def of(cls, *public_keys: Ed25519PublicKey) -> TrustedKeys:
        return cls({key_id(k): k for k in public_keys})

    @property
    def ids(self) -> list[str]:
        return sorted(self.keys)

    def verify(self, purpose: str, payload: Mapping[str, Any], signature: object) -> str:
        """Raise SignatureRefused unless ``signature`` is a valid one over ``payload``;
        answer the key id that made it."""
        if not isinstance(signature, Mapping):
            raise SignatureRefused("signature: missing")
        if signature.get("alg") != ALGORITHM:
            raise SignatureRefused(f"signature.alg: must be {ALGORITHM}")
        kid = signature.get("key_id")
        if not isinstance(kid, str) or kid not in self.keys:
            raise SignatureRefused(f"signature.key_id: {kid!r} is not a trusted review key")
        raw = signature.get("value")
        if not isinstance(raw, str):
            raise SignatureRefused("signature.value: missing")
        try:
            value = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        except (binascii.Error, ValueError) as exc:
            raise SignatureRefused("signature.value: not base64url") from exc
        try:
            self.keys[kid].verify(value, signed_bytes(purpose, payload))
        except InvalidSignature as exc:
            raise SignatureRefused("signature: does not match the signed fields") from exc
        return kid


# --- key files ------------------------------------------------------------------------


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the signing key ({exc.strerror})") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key")
    return key


def load_public_keys(paths: Iterable[Path]) -> dict[str, Ed25519PublicKey]:
    """Every public key in every file, by key id; a file may hold several PEM blocks."""
    keys: dict[str, Ed25519PublicKey] = {}
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise KeyFileError(f"{path}: cannot read public keys ({exc.strerror})") from exc
        found = [m.group(0) for m in _PEM_BLOCK.finditer(data)]
        if not found:
            raise KeyFileError(f"{path}: no PEM public key")
        for block in found:
            try:
                key = serialization.load_pem_public_key(block)
            except (ValueError, TypeError) as exc:
                raise KeyFileError(f"{path}: a block is not a PEM public key") from exc
            if not isinstance(key, Ed25519PublicKey):
                raise KeyFileError(f"{path}: a key is not Ed25519")
            keys[key_id(key)] = key
    return keys


def load_signer(path: Path) -> Signer:
    return Signer(load_signing_key(path))


def load_trusted_keys(paths: Iterable[Path]) -> TrustedKeys:
    return TrustedKeys(load_public_keys(paths))


def generate_key_pair(directory: Path) -> tuple[Path, Path]:
    """Write a new private key (mode 0600) and its public key into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private = directory / PRIVATE_KEY_NAME
    public = directory / PUBLIC_KEY_NAME
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    public.write_bytes(Signer(key).public_pem())
    return private, public


def ensure_key_pair(directory: Path) -> tuple[Path, Path]:
    """The demo key pair of the embedded stack: generated on first start, then kept."""
    private, public = directory / PRIVATE_KEY_NAME, directory / PUBLIC_KEY_NAME
    if private.exists() and public.exists():
        return private, public
    return generate_key_pair(directory)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m casework.signing", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate", help="write a new Ed25519 key pair")
    generate.add_argument("directory", type=Path)
    show = commands.add_parser("key-id", help="print the key ids of a PEM file")
    show.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "generate":
            private, public = generate_key_pair(args.directory)
            print(f"private key: {private}\npublic key:  {public}")
            print(f"key id:      {load_signer(private).key_id}")
        else:
            try:
                print(load_signer(args.file).key_id)
            except KeyFileError:
                for kid in load_public_keys([args.file]):
                    print(kid)
    except KeyFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
