"""Real RS256 Firebase ID tokens signed by a key made for the run (and deliberately broken ones), whose
certificate Google's endpoint double serves (`certificates`, `https_endpoint`), so firebase-admin verifies them
exactly as in production.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def _key_and_certificate() -> tuple[rsa.RSAPrivateKey, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securetoken.system.gserviceaccount.com")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .sign(key, hashes.SHA256())
    )
    return key, certificate.public_bytes(serialization.Encoding.PEM).decode()


class FirebaseTokenIssuer:
    """Mints ID tokens for a Firebase project, good and deliberately broken."""

    def __init__(self, project_id: str) -> None:
        self.project_id = project_id
        self.kid = "test-key-1"
        self._key, self.certificate_pem = _key_and_certificate()
        self._foreign_key, _ = _key_and_certificate()

    def certificates(self) -> dict[str, str]:
        return {self.kid: self.certificate_pem}

    def claims(self, uid: str, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": f"https://securetoken.google.com/{self.project_id}",
            "aud": self.project_id,
            "auth_time": now - 60,
            "user_id": uid,
            "sub": uid,
            "iat": now - 60,
            "exp": now + 3600,
            "firebase": {"identities": {}, "sign_in_provider": "password"},
        }
        claims.update(overrides)
        return claims

    def token(self, uid: str, **overrides: Any) -> str:
        return jwt.encode(self.claims(uid, **overrides), self._key, algorithm="RS256", headers={"kid": self.kid})

    def signed_raw_claims_token(self, claims: Any) -> str:
        """Correctly signed by the project's key, whatever the payload (PyJWT's encode refuses odd claims)."""
        return jwt.api_jws.encode(json.dumps(claims).encode(), self._key, algorithm="RS256", headers={"kid": self.kid})

    # Broken tokens: each must be refused with 401.
    def expired_token(self, uid: str) -> str:
        now = int(time.time())
        return self.token(uid, iat=now - 3601, exp=now - 1)

    def future_token(self, uid: str) -> str:
        now = int(time.time())
        return self.token(uid, iat=now + 600, auth_time=now + 600, exp=now + 4200)

    def wrong_project_token(self, uid: str) -> str:
        return self.token(uid, aud="another-project", iss="https://securetoken.google.com/another-project")

    def foreign_key_token(self, uid: str) -> str:
        return jwt.encode(self.claims(uid), self._foreign_key, algorithm="RS256", headers={"kid": self.kid})

    def unknown_kid_token(self, uid: str) -> str:
        return jwt.encode(self.claims(uid), self._key, algorithm="RS256", headers={"kid": "no-such-key"})

    def injected_kid_token(self, uid: str) -> str:
        return jwt.encode(self.claims(uid), self._key, algorithm="RS256", headers={"kid": "../../etc/passwd' OR 1=1"})

    def unsigned_token(self, uid: str) -> str:
        return jwt.encode(self.claims(uid), "", algorithm="none", headers={"kid": self.kid})  # "": no key

    def hs256_with_certificate_token(self, uid: str) -> str:
        """The classic algorithm-confusion attack: HMAC keyed with the public certificate."""
        header = jwt.utils.base64url_encode(b'{"alg":"HS256","kid":"%s","typ":"JWT"}' % self.kid.encode())
        payload = jwt.utils.base64url_encode(json.dumps(self.claims(uid)).encode())
        signing_input = header + b"." + payload
        signature = hmac.new(self.certificate_pem.encode(), signing_input, hashlib.sha256).digest()
        return (signing_input + b"." + jwt.utils.base64url_encode(signature)).decode()

    def expired_by_one_second_token(self, uid: str) -> str:
        now = int(time.time())
        return self.token(uid, iat=now - 3600, auth_time=now - 3600, exp=now - 1)

    def without_kid_token(self, uid: str) -> str:
        return jwt.encode(self.claims(uid), self._key, algorithm="RS256")

    def jku_injected_token(self, uid: str) -> str:
        """Signed with the attacker's key, whose certificate the header claims to be at the attacker's URL."""
        headers = {"kid": "attacker", "jku": "https://attacker.example/keys", "x5u": "https://attacker.example/cert"}
        return jwt.encode(self.claims(uid), self._foreign_key, algorithm="RS256", headers=headers)

    def empty_subject_token(self, uid: str) -> str:
        return self.token(uid, sub="", user_id="")

    def oversized_subject_token(self, uid: str) -> str:
        return self.token(uid, sub="u" * 129, user_id="u" * 129)

    def tampered_token(self, uid: str, other_uid: str) -> str:
        """A valid token whose payload was swapped for another user's, keeping the signature."""
        header, _, signature = self.token(uid).split(".")
        _, payload, _ = self.token(other_uid).split(".")
        return f"{header}.{payload}.{signature}"
