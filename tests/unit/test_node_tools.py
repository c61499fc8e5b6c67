"""The address each node serves on: never loopback (Debian's 127.0.1.1 hostname entry) or link-local."""

from __future__ import annotations

import pytest

from lc_cluster.jobs.node_tools import pick, usable

ETH = [("lo", "127.0.0.1"), ("docker0", "169.254.3.1"), ("eth0", "203.0.113.7"), ("ib0", "10.1.2.3")]


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.1.1", "169.254.10.20", "0.0.0.0", "224.0.0.1"])
def test_never_usable(address: str) -> None:
    assert not usable(address)


def test_the_configured_interface_wins() -> None:
    assert pick(ETH, "eth0") == "203.0.113.7"


def test_a_configured_interface_without_an_address_is_no_answer() -> None:
    assert pick(ETH, "bond0") is None
    assert pick([("lo", "127.0.0.1")], "lo") is None


def test_private_addresses_before_public_ones() -> None:
    assert pick(ETH, None) == "10.1.2.3"


def test_hostname_resolving_to_loopback_gives_nothing() -> None:
    assert pick([("", "127.0.1.1")], None) is None
    assert pick([("", "127.0.1.1"), ("", "192.168.5.5")], None) == "192.168.5.5"
