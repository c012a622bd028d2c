"""Access control shared by every service: API keys for tills, ops and services, member
tokens for apps, the rules routes declare, abuse limits and security events."""

from loyalty_platform.access.credentials import SCOPES, Caller, KeyHolder, Kind, MemberCaller
from loyalty_platform.access.guard import Allow, limit, require_store
from loyalty_platform.access.settings import AccessSettings

__all__ = [
    "SCOPES",
    "AccessSettings",
    "Allow",
    "Caller",
    "KeyHolder",
    "Kind",
    "MemberCaller",
    "limit",
    "require_store",
]
