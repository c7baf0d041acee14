"""The real client address, behind the proxies you trust and no others (``DOCKET_TRUSTED_PROXIES``).

API throttles (DRF) and login lock-outs (django-axes) key on the client's
address. Read naively, ``X-Forwarded-For`` is whatever the client wrote, so
rotating it gave every request a fresh throttle bucket. ``ClientAddressMiddleware``
(first in ``MIDDLEWARE``) settles the address once: ``REMOTE_ADDR`` becomes the
client as the trusted proxies saw it, and ``X-Forwarded-For`` is removed, so
nothing later can read the forgeable header (``NUM_PROXIES = 0`` keeps DRF on
``REMOTE_ADDR``; axes reads ``REMOTE_ADDR``).

``DOCKET_TRUSTED_PROXIES`` is

* unset or ``0``: no proxy; the header is ignored, the peer is the client;
* a count ``N``: exactly ``N`` proxies in front of Docket, each appending the
  address it saw; the client is the ``N``-th address from the right of
  ``X-Forwarded-For`` (a client's own entries sit further left and are ignored);
* addresses and networks (``10.0.0.0/8,192.168.1.7``): the header is read only
  when the peer is one of them, and from the right, skipping addresses in
  them; the first address outside them is the client.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class TrustedProxies:
    count: int = 0
    networks: tuple[Network, ...] = ()

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in network for network in self.networks)


def trusted_proxies_parse(value: str, name: str = "DOCKET_TRUSTED_PROXIES") -> TrustedProxies:
    """``"2"`` or ``"10.0.0.0/8,::1"`` -> ``TrustedProxies``; ``ImproperlyConfigured`` names the bad part."""
    value = value.strip()
    if not value:
        return TrustedProxies()
    if value.isdigit():
        return TrustedProxies(count=int(value))
    networks = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {part!r} is neither a number of proxies nor an IP address or network (10.0.0.0/8)"
            ) from None
    return TrustedProxies(networks=tuple(networks))


def client_address(remote_addr: str, forwarded_for: str | None, proxies: TrustedProxies) -> str:
    """The client's address from the peer (``REMOTE_ADDR``) and ``X-Forwarded-For``, trusting only ``proxies``."""
    hops = [hop.strip() for hop in (forwarded_for or "").split(",") if hop.strip()]
    if not hops:
        return remote_addr
    if proxies.count:
        # The last proxy is the peer; it and the N - 1 before it each appended one address.
        return _valid(hops[-min(proxies.count, len(hops))], remote_addr)
    if not proxies.networks or not proxies.trusts(remote_addr):
        return remote_addr
    client = remote_addr
    for hop in reversed(hops):
        client = hop
        if not proxies.trusts(hop):
            break
    return _valid(client, remote_addr)


def _valid(address: str, fallback: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return fallback  # a trusted proxy wrote something that is not an address: its own peer is all we know


class ClientAddressMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.proxies = settings.DOCKET_TRUSTED_PROXIES

    def __call__(self, request):
        meta = request.META
        forwarded = meta.pop("HTTP_X_FORWARDED_FOR", None)
        meta["REMOTE_ADDR"] = client_address(meta.get("REMOTE_ADDR", ""), forwarded, self.proxies)
        return self.get_response(request)
