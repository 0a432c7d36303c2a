"""The dynamic-security state FireGrid writes for its broker, checked field by field."""

from __future__ import annotations

import base64
import hashlib

from devices.broker_accounts import acls, dynsec_config, role_name
from devices.credentials import SALT_CHARS, StoredCredential, hash_secret, hashed


def test_a_hash_is_what_mosquittos_plugin_computes_from_its_base64_fields() -> None:
    secret = "s3cret-of-a-device"
    stored = hashed(secret)
    assert len(stored.salt) == SALT_CHARS
    assert stored.salt.isascii()
    device = StoredCredential(
        "HYD-1", "d", stored.password_hash, stored.salt, stored.iterations, False
    )
    config = dynsec_config(
        [device], prefix="fg/v1", service=("fg", hashed("a")), admin=("ad", hashed("b"))
    )
    [entry] = [c for c in config["clients"] if c["username"] == "HYD-1"]
    salt = base64.b64decode(entry["salt"])
    assert len(salt) == 12  # the plugin refuses any other salt length
    # The plugin's check: PBKDF2-HMAC-SHA512 of the password with the decoded salt.
    expected = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, entry["iterations"], 64)
    assert base64.b64decode(entry["password"]) == expected
    assert entry["roles"] == [{"rolename": "fg-d-HYD-1"}]
    assert entry["disabled"] is False
    assert hash_secret(secret, salt=stored.salt) == expected.hex()


def test_the_state_holds_a_role_per_device_and_denies_by_default() -> None:
    off = StoredCredential("T-9", "t", hash_secret("x", salt="a" * 12), "a" * 12, 101, True)
    config = dynsec_config(
        [off], prefix="p/v1", service=("fg", hashed("a")), admin=("ad", hashed("b"))
    )
    assert config["defaultACLAccess"] == {
        "publishClientSend": False,
        "publishClientReceive": True,
        "subscribe": False,
        "unsubscribe": True,
    }
    roles = {r["rolename"]: r["acls"] for r in config["roles"]}
    assert roles[role_name("T-9", "t")] == acls("T-9", "t", prefix="p/v1")
    [terminal] = [c for c in config["clients"] if c["username"] == "T-9"]
    assert terminal["disabled"] is True
    assert {c["username"] for c in config["clients"]} == {"fg", "ad", "T-9"}


def test_a_terminal_may_not_write_its_own_inbox() -> None:
    entries = acls("T-1", "t", prefix="fg/v1")
    deny = [e for e in entries if not e["allow"]]
    assert deny == [
        {
            "acltype": "publishClientSend",
            "topic": "fg/v1/t/T-1/inbox",
            "allow": False,
            "priority": 1,
        }
    ]
    assert all(e["priority"] < 1 for e in entries if e["allow"])  # the deny is checked first
    assert [e["topic"] for e in acls("D-1", "d", prefix="fg/v1")] == ["fg/v1/d/D-1/#"]
