"""DRF authentication by ``Authorization: Token <token>`` against ``ApiToken``.

knox's ``TokenAuthentication`` parses the header; this class looks the token
up in ``ApiToken`` (by its lookup key, then a constant-time comparison of the
SHA-512 digest, as knox does), deletes it when it has expired, refuses
inactive users, and records the time of use (at most one write a minute).
"""

from __future__ import annotations

import binascii
from hmac import compare_digest

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.settings import CONSTANTS
from rest_framework import exceptions

from accounts.models import ApiToken
from accounts.services import token_touch


class TokenAuthentication(KnoxTokenAuthentication):
    def authenticate_credentials(self, token: bytes):
        message = _("Invalid token.")
        try:
            text = token.decode("utf-8")
            digest = hash_token(text)
        except (UnicodeDecodeError, TypeError, binascii.Error):
            raise exceptions.AuthenticationFailed(message) from None
        now = timezone.now()
        for candidate in ApiToken.objects.filter(token_key=text[: CONSTANTS.TOKEN_KEY_LENGTH]).select_related("user"):
            if not compare_digest(digest, candidate.digest):
                continue
            if candidate.expiry is not None and candidate.expiry < now:
                candidate.delete()
                break
            if not candidate.user.is_active:
                raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
            token_touch(token=candidate, now=now)
            return candidate.user, candidate
        raise exceptions.AuthenticationFailed(message)
