"""Round-robin over several servers: failed ones sit out a growing cool-down and are probed before
they get work again (a fake clock, so no test waits)."""

from __future__ import annotations

import pytest

from rewardkit.client.endpoints import Endpoints, split_urls


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_urls_from_a_list_or_commas():
    assert split_urls("http://a:1/, http://b:2") == ["http://a:1", "http://b:2"]
    assert split_urls(["http://a:1"]) == ["http://a:1"]
    with pytest.raises(ValueError, match="no server URL"):
        split_urls(" , ")


def test_round_robin_skips_a_failed_server_until_its_cool_down_ends():
    clock = Clock()
    servers = Endpoints(3, clock)
    assert [servers.pick() for _ in range(4)] == [0, 1, 2, 0]
    servers.failed(1)
    assert servers.another_up(1) and [servers.pick() for _ in range(4)] == [2, 0, 2, 0]
    clock.now += 1.01
    assert servers.pick() == 1 and servers.needs_probe(1)
    servers.succeeded(1)
    assert not servers.needs_probe(1)


def test_cool_downs_double_and_when_all_are_down_the_soonest_back_is_tried():
    clock = Clock()
    servers = Endpoints(2, clock)
    servers.failed(0)
    servers.failed(0)  # second failure in a row: two seconds
    servers.failed(1)  # one second
    assert not servers.another_up(0)
    assert servers.pick() == 1
    clock.now += 1.5
    assert servers.pick() == 1 and not servers.another_up(1)
    clock.now += 0.6
    assert servers.pick() == 0
