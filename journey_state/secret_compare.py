"""Compare a secret a request carries (token, header, signature, form field) with the configured one.

Sanic decodes header values with surrogateescape, so bytes that are not UTF-8 arrive as lone
surrogates: `str.encode()` then raises UnicodeEncodeError, and hmac.compare_digest raises
TypeError for non-ASCII str. Either made a webhook answer 500 to a wrong secret. Encoding with
surrogatepass turns every str into bytes, so a wrong secret is simply not equal.
"""
from __future__ import annotations

import hmac


def same_secret(given: str | None, expected: str) -> bool:
    """True if `given` is `expected`, in constant time; never raises for any str."""
    return hmac.compare_digest((given or "").encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))
