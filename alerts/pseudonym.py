"""Keyed pseudonym of a rider id for third parties (insurers).

HMAC-SHA256 under a platform secret: stable for one key, unlinkable without it, and not
reversible by hashing guessed ids (unlike a plain hash).

>>> pseudonymize("r1", b"0123456789abcdef")
'2d7aeef71b46a28ac05522cd9abc86ed'
>>> len(pseudonymize("r1", b"0123456789abcdef")) == PSEUDONYM_HEX_CHARS
True
"""

from __future__ import annotations

import hashlib
import hmac

#: 128 bits of the HMAC: collisions are negligible for any fleet size.
PSEUDONYM_HEX_CHARS = 32
#: Shorter keys are guessable; 16 bytes = 128 bits.
MIN_KEY_BYTES = 16


def pseudonymize(rider_id: str, key: bytes) -> str:
    """HMAC-SHA256 of ``rider_id`` under ``key``, as the first 32 hex characters."""
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(
            f"pseudonym key has {len(key)} bytes; use at least {MIN_KEY_BYTES} random bytes "
            "(e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`) and keep it secret"
        )
    return hmac.new(key, rider_id.encode("utf-8"), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX_CHARS]
