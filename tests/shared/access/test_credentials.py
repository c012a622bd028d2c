"""API keys' shape and the rights each kind may carry (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty_platform.access.credentials import (
    SCOPES,
    InvalidKeyRequest,
    KeyHolder,
    Kind,
    check_rights,
    key_text,
    new_key,
    read_key,
    secret_digest,
)


@pytest.mark.parametrize("kind", list(Kind))
def test_an_issued_key_reads_back_as_itself(kind: Kind) -> None:
    key = new_key(kind)
    assert read_key(key_text(key)) == key
    assert key.key_id.startswith(f"{kind.value}_")


def test_two_keys_never_share_an_id_or_a_secret() -> None:
    keys = [new_key(Kind.OPS) for _ in range(1000)]
    assert len({k.key_id for k in keys}) == len({k.secret for k in keys}) == 1000


@given(st.text(max_size=200))
def test_anything_else_is_not_a_key(text: str) -> None:
    found = read_key(text)
    if found is not None:  # only text of exactly the issued shape reads as a key
        assert key_text(found) == text
        assert found.key_id.split("_")[0] in {k.value for k in Kind}


@pytest.mark.parametrize(
    "text",
    ["", "ops_0123456789abcdef", "ops_0123456789abcdef.", "ops_0123456789abcdef.short",
     "root_0123456789abcdef." + "x" * 43, "ops_0123456789ABCDEF." + "x" * 43,
     "ops_0123456789abcdef." + "x" * 42 + "!", "Bearer ops_0123456789abcdef." + "x" * 43],
)  # fmt: skip
def test_malformed_keys_are_refused_before_any_lookup(text: str) -> None:
    assert read_key(text) is None


def test_only_the_digest_of_a_secret_is_compared() -> None:
    key = new_key(Kind.TILL)
    assert key.digest() == secret_digest(key.secret)
    assert key.secret not in key.digest()
    assert len(key.digest()) == 64


def test_a_till_belongs_to_one_store_and_carries_no_scope() -> None:
    check_rights(Kind.TILL, "store-17", frozenset())
    with pytest.raises(InvalidKeyRequest, match="store"):
        check_rights(Kind.TILL, None, frozenset())
    with pytest.raises(InvalidKeyRequest, match="no scopes"):
        check_rights(Kind.TILL, "store-17", frozenset({"points:read"}))


@pytest.mark.parametrize("kind", [Kind.OPS, Kind.SERVICE])
def test_ops_and_service_keys_carry_known_scopes_and_no_store(kind: Kind) -> None:
    check_rights(kind, None, frozenset({"churn:read"}))
    with pytest.raises(InvalidKeyRequest, match="at least one scope"):
        check_rights(kind, None, frozenset())
    with pytest.raises(InvalidKeyRequest, match="unknown scopes: points:write"):
        check_rights(kind, None, frozenset({"points:write"}))
    with pytest.raises(InvalidKeyRequest, match="no store"):
        check_rights(kind, "store-17", frozenset({"churn:read"}))


def test_a_till_has_no_scope_even_if_one_were_stored() -> None:
    till = KeyHolder("till_0123456789abcdef", Kind.TILL, "s", scopes=frozenset(SCOPES))
    assert not any(till.may(scope) for scope in SCOPES)
    ops = KeyHolder("ops_0123456789abcdef", Kind.OPS, scopes=frozenset({"churn:read"}))
    assert ops.may("churn:read")
    assert not ops.may("churn:model")
