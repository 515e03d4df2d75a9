"""Signed bundles: ed25519 keys, signing a bundle's manifest and model file, checking against trusted keys.

The signature covers `MESSAGE_PREFIX`, the manifest without its "signature" field as canonical JSON
(sorted keys, no spaces, UTF-8) and the sha256 of the model file's bytes, so neither file can be
swapped or edited without breaking it. It is stored in the manifest as
{"alg": "ed25519", "key_id": <first 16 hex of sha256(raw public key)>, "value": <base64>}.
Keys are PEM files (PKCS#8 private key, SubjectPublicKeyInfo public key), readable by openssl.

A `Trust` is the device's list of trusted public keys (several, for rotation) plus `allow_unsigned`,
the explicit development mode: an unsigned bundle is then accepted (the caller logs it loudly), but
a bundle that carries a signature must still verify. cryptography is imported only here, lazily.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from prognos.edge_runtime.errors import BundleError, ConfigError

MESSAGE_PREFIX = b"prognos-bundle-signature-v1\n"
ALG = "ed25519"


def canonical(manifest: dict) -> bytes:
    """The signed form of a manifest: every field but "signature", sorted keys, compact, UTF-8."""
    body = {k: v for k, v in manifest.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def message(manifest: dict, model_bytes: bytes) -> bytes:
    return MESSAGE_PREFIX + canonical(manifest) + b"\n" + hashlib.sha256(model_bytes).hexdigest().encode()


def key_id(public_key) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def keygen(out_dir) -> tuple[Path, Path]:
    """Write out_dir/signing.key (mode 0600) and out_dir/signing.pub; refuses to overwrite a key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    key_path, pub_path = out / "signing.key", out / "signing.pub"
    if key_path.exists() or pub_path.exists():
        raise ConfigError(f"{out}: signing.key or signing.pub exists already; not overwriting a key")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    pub_path.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return key_path, pub_path


def _read_pem(path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {what} file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the {what} ({e.strerror})") from None


def load_private_key(path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(_read_pem(path, "signing key"), password=None)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{path}: not an unencrypted PEM private key ({e})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: a {type(key).__name__}; expected an ed25519 key (prognos-edge keygen)")
    return key


def load_public_key(path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(_read_pem(path, "public key"))
    except ValueError as e:
        raise ConfigError(f"{path}: not a PEM public key ({e})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{path}: a {type(key).__name__}; expected an ed25519 public key (signing.pub)")
    return key


def sign_bundle(bundle_dir, key_path) -> str:
    """Sign bundle_dir in place (manifest.json gains "signature"); returns the key id."""
    bundle_dir = Path(bundle_dir)
    key = load_private_key(key_path)
    manifest_path = bundle_dir / "manifest.json"
    manifest, data = _read_bundle(bundle_dir)
    if hashlib.sha256(data).hexdigest() != manifest["sha256"]:
        raise BundleError(f"{bundle_dir}: model file does not match the manifest's sha256; not signing a broken bundle")
    kid = key_id(key.public_key())
    sig = key.sign(message(manifest, data))
    manifest["signature"] = {"alg": ALG, "key_id": kid, "value": base64.b64encode(sig).decode()}
    tmp = manifest_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2))
    os.replace(tmp, manifest_path)  # a watcher never sees a half-written manifest
    return kid


def _read_bundle(bundle_dir: Path) -> tuple[dict, bytes]:
    from prognos.edge_runtime.bundle import read_manifest

    manifest = read_manifest(bundle_dir)
    model = bundle_dir / manifest["model_file"]
    if not model.is_file():
        raise BundleError(f"{model}: model file named in the manifest does not exist")
    return manifest, model.read_bytes()


@dataclass
class Trust:
    """Trusted public keys {key id: key} and whether unsigned bundles are accepted (development only)."""

    keys: dict = field(default_factory=dict)
    allow_unsigned: bool = False

    @classmethod
    def from_files(cls, paths, allow_unsigned: bool = False) -> "Trust":
        keys = [load_public_key(p) for p in paths]
        return cls({key_id(k): k for k in keys}, allow_unsigned)

    @property
    def checks(self) -> bool:
        """False when nothing can be checked (no keys): signatures are then ignored."""
        return bool(self.keys)

    def verify(self, manifest: dict, model_bytes: bytes, where) -> str | None:
        """The signing key id, or None for an unsigned bundle accepted by `allow_unsigned`; else BundleError."""
        from cryptography.exceptions import InvalidSignature

        sig = manifest.get("signature")
        if sig is None:
            if self.allow_unsigned or not self.checks:
                return None
            raise BundleError(
                f"{where}: unsigned bundle; this device trusts only bundles signed by key(s) "
                f"{sorted(self.keys)} (sign with `prognos sign`, or allow_unsigned = true for development)"
            )
        if not self.checks:
            return None
        if not isinstance(sig, dict) or sig.get("alg") != ALG or not isinstance(sig.get("value"), str):
            raise BundleError(f"{where}: malformed signature {sig!r}; expected {{alg: ed25519, key_id, value}}")
        key = self.keys.get(sig.get("key_id"))
        if key is None:
            raise BundleError(
                f"{where}: signed by key {sig.get('key_id')!r}, which is not trusted here "
                f"(trusted: {sorted(self.keys)})"
            )
        try:
            key.verify(base64.b64decode(sig["value"], validate=True), message(manifest, model_bytes))
        except (InvalidSignature, ValueError):
            raise BundleError(
                f"{where}: signature of key {sig['key_id']} does not verify: the manifest or the "
                "model file was modified after signing"
            ) from None
        return sig["key_id"]
