"""Which URLs a webhook may POST to.

``http``/``https`` only, a host name that resolves, and none of its
addresses loopback, private (RFC 1918, unique-local), link-local (cloud
metadata services live there), multicast, reserved or unspecified, so a
hook cannot be aimed at the server's own network. Checked when a hook is
saved and again before every delivery (a name may resolve elsewhere later).
``DOCKET_WEBHOOK_ALLOW_PRIVATE=true`` lifts the address check (a receiver on
the same machine or network, and the tests).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError


def _refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for attribute, what in (
        ("is_loopback", "a loopback"),
        ("is_link_local", "a link-local"),
        ("is_private", "a private"),
        ("is_multicast", "a multicast"),
        ("is_unspecified", "an unspecified"),
        ("is_reserved", "a reserved"),
    ):
        if getattr(address, attribute):
            return what
    return None


def webhook_url_check(url: str) -> None:
    """``ValidationError({"url": …})`` unless a webhook may POST to ``url`` (module docstring)."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError({"url": "The URL must start with http:// or https:// and name a host."})
    if parts.username or parts.password:
        raise ValidationError({"url": "Put no user or password in the URL; receivers check the signature."})
    if settings.DOCKET_WEBHOOK_ALLOW_PRIVATE:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValidationError({"url": "The URL's port is not a number from 0 to 65535."}) from None
    try:
        found = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise ValidationError({"url": f"The host {parts.hostname!r} does not resolve."}) from None
    for _family, _type, _proto, _name, sockaddr in found:
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        what = _refused(address)
        if what is not None:
            raise ValidationError(
                {
                    "url": f"{parts.hostname} resolves to {address}, {what} address; webhooks go to public "
                    "addresses only (set DOCKET_WEBHOOK_ALLOW_PRIVATE=true to allow private ones)."
                }
            )
