"""Throttles and lock-outs key on the real client address (``DOCKET_TRUSTED_PROXIES``, config/proxies.py)."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from rest_framework.throttling import ScopedRateThrottle

from config.proxies import TrustedProxies, client_address, trusted_proxies_parse

NONE = trusted_proxies_parse("")
ONE = trusted_proxies_parse("1")
TWO = trusted_proxies_parse("2")
LAN = trusted_proxies_parse("10.0.0.0/8, 192.168.1.7")


@pytest.mark.parametrize(
    ("peer", "header", "proxies", "client"),
    [
        ("203.0.113.5", "1.2.3.4", NONE, "203.0.113.5"),  # no proxy trusted: the header is ignored
        ("10.0.0.2", "1.2.3.4", NONE, "10.0.0.2"),
        ("10.0.0.2", "6.6.6.6, 1.2.3.4", ONE, "1.2.3.4"),  # one proxy: the address it appended
        ("10.0.0.2", "6.6.6.6, 1.2.3.4, 10.0.0.9", TWO, "1.2.3.4"),  # two proxies: the second from the right
        ("10.0.0.2", "1.2.3.4", TWO, "1.2.3.4"),  # fewer hops than proxies: the leftmost
        ("10.0.0.2", "", ONE, "10.0.0.2"),
        ("10.0.0.2", "6.6.6.6, 1.2.3.4, 10.1.1.1", LAN, "1.2.3.4"),  # skip trusted hops from the right
        ("192.168.1.7", "1.2.3.4", LAN, "1.2.3.4"),
        ("203.0.113.5", "1.2.3.4", LAN, "203.0.113.5"),  # the peer is not a trusted proxy: header ignored
        ("10.0.0.2", "10.0.0.3, 10.0.0.4", LAN, "10.0.0.3"),  # all trusted: the leftmost
        ("10.0.0.2", "not-an-ip", ONE, "10.0.0.2"),  # garbage from a proxy: its peer is all we know
        ("10.0.0.2", "2001:db8::1", ONE, "2001:db8::1"),
    ],
)
def test_client_address(peer, header, proxies, client):
    assert client_address(peer, header, proxies) == client


def test_the_setting_takes_a_count_or_networks_and_names_a_bad_value():
    assert trusted_proxies_parse(" 3 ") == TrustedProxies(count=3)
    assert [str(n) for n in trusted_proxies_parse("10.0.0.0/8,::1").networks] == ["10.0.0.0/8", "::1/128"]
    with pytest.raises(ImproperlyConfigured, match="DOCKET_TRUSTED_PROXIES: 'proxy.local'"):
        trusted_proxies_parse("10.0.0.0/8,proxy.local")


def _login_attempts(client: Client, forwarded: list[str]) -> list[int]:
    body = json.dumps({"username": "nobody", "password": "wrong"})
    return [
        client.post("/api/v1/auth/token/", body, content_type="application/json", HTTP_X_FORWARDED_FOR=f).status_code
        for f in forwarded
    ]


@pytest.mark.django_db
def test_rotating_x_forwarded_for_does_not_escape_the_throttle(monkeypatch, settings):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"login": "3/minute"})
    settings.DOCKET_TRUSTED_PROXIES = NONE
    codes = _login_attempts(Client(), [f"198.51.100.{i}" for i in range(5)])
    assert codes == [400, 400, 400, 429, 429]


@pytest.mark.django_db
def test_behind_a_trusted_proxy_each_client_has_its_own_bucket(monkeypatch, settings):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"login": "2/minute"})
    settings.DOCKET_TRUSTED_PROXIES = ONE
    client = Client(REMOTE_ADDR="10.0.0.2")  # the proxy
    # A client forging its own X-Forwarded-For gets one more entry appended by the proxy: still its bucket.
    first = _login_attempts(client, ["6.6.6.1, 198.51.100.1", "6.6.6.2, 198.51.100.1", "6.6.6.3, 198.51.100.1"])
    other = _login_attempts(client, ["198.51.100.2"])
    assert first == [400, 400, 429]
    assert other == [400]
