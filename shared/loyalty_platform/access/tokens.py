"""Member tokens: JWTs whose subject is the member, for the member's own app.

The platform only verifies them: the retailer's identity service signs them when the
member logs in. `issue` exists for development and tests, where the platform holds the
shared secret.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import jwt

from loyalty_kernel.events.envelope import ID_PATTERN
from loyalty_platform.access.settings import AccessSettings

_MEMBER_ID = re.compile(ID_PATTERN)


class TokenRefused(Exception):
    """The token is not one this platform accepts; `reason` says which check failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MemberTokens:
    def __init__(self, settings: AccessSettings) -> None:
        self._settings = settings
        if settings.token_public_key is not None:
            self._key: str = settings.token_public_key
            self._algorithms: list[str] = [settings.token_algorithm]
        else:
            self._key = settings.signing_secret()
            self._algorithms = ["HS256"]

    def member(self, token: str) -> str:
        """The member the token speaks for, once signature, issuer, audience and expiry
        check out."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=self._algorithms,
                audience=self._settings.token_audience,
                issuer=self._settings.token_issuer,
                leeway=self._settings.token_leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenRefused("token_expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenRefused("token_wrong_audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise TokenRefused("token_wrong_issuer") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenRefused("token_invalid") from exc
        subject = claims["sub"]
        if not isinstance(subject, str) or not _MEMBER_ID.match(subject):
            raise TokenRefused("token_invalid")
        return subject

    def issue(
        self,
        member_id: str,
        *,
        lifetime: timedelta = timedelta(hours=1),
        now: datetime | None = None,
        audience: str | None = None,
    ) -> str:
        """A token for `member_id`, signed with the shared secret."""
        if self._algorithms != ["HS256"]:
            raise RuntimeError(
                "tokens are verified with a public key: the identity service issues them"
            )
        moment = now or datetime.now(UTC)
        claims = {
            "sub": member_id,
            "iss": self._settings.token_issuer,
            "aud": audience or self._settings.token_audience,
            "iat": moment,
            "exp": moment + lifetime,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm="HS256")
