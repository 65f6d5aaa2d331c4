"""Releasing each source's results in ticket order."""

import pytest

from server.in_order import InOrderRelease


def test_results_go_out_in_ticket_order_per_source_and_sources_do_not_wait_for_each_other():
    order = InOrderRelease()
    released: list[str] = []
    tickets = {}
    for name, source in (("a0", "a"), ("a1", "a"), ("b0", "b"), ("a2", "a")):
        with order.ticket(source) as ticket:
            tickets[name] = (source, ticket)

    for name in ("a2", "b0", "a1"):
        order.finish(*tickets[name], lambda name=name: released.append(name))
    assert released == ["b0"]
    order.finish(*tickets["a0"], lambda: released.append("a0"))
    assert released == ["b0", "a0", "a1", "a2"]
    assert order.outstanding() == 0  # sources with nothing left are forgotten


def test_a_ticket_whose_job_was_not_queued_leaves_no_gap():
    order = InOrderRelease()
    with pytest.raises(RuntimeError), order.ticket("a"):
        raise RuntimeError("queue full")
    assert order.outstanding() == 0
    with order.ticket("a") as first:
        pass
    released = []
    order.finish("a", first, lambda: released.append(first))
    assert released == [0]
