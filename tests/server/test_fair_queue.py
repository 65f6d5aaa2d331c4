"""The batcher's queue and the decode pool: round-robin across sources, bounded, closable."""

import threading

import pytest

from server.fair_executor import FairExecutor
from server.fair_queue import FairQueue, QueueClosed, QueueFull


def test_sources_take_turns_in_the_order_they_first_queued():
    queue: FairQueue[str] = FairQueue(capacity=10)
    for item in ("a1", "a2", "a3"):
        queue.put("a", item)
    queue.put("b", "b1")
    queue.put("c", "c1")
    queue.put("b", "b2")

    assert [queue.get(timeout=0) for _ in range(6)] == ["a1", "b1", "c1", "a2", "b2", "a3"]
    assert queue.get(timeout=0) is None


def test_a_full_queue_refuses_and_a_closed_one_refuses_new_items_but_hands_out_the_rest():
    queue: FairQueue[int] = FairQueue(capacity=2)
    queue.put("a", 1)
    queue.put("b", 2)
    with pytest.raises(QueueFull):
        queue.put("c", 3)
    queue.close()
    with pytest.raises(QueueClosed):
        queue.put("c", 3)
    assert [queue.get(), queue.get()] == [1, 2]
    with pytest.raises(QueueClosed):
        queue.get()


def test_one_at_a_time_hands_out_a_sources_next_item_once_its_last_is_done():
    queue: FairQueue[str] = FairQueue(one_at_a_time=True)
    for source, item in (("a", "a1"), ("a", "a2"), ("b", "b1")):
        queue.put(source, item)

    assert [queue.get(timeout=0), queue.get(timeout=0)] == ["a1", "b1"]
    assert queue.get(timeout=0) is None  # a2 waits for a1
    queue.done("a")
    assert queue.get(timeout=0) == "a2"


def test_a_waiting_get_wakes_up_for_a_new_item():
    queue: FairQueue[int] = FairQueue(capacity=1)
    got = []
    taker = threading.Thread(target=lambda: got.append(queue.get()))
    taker.start()
    queue.put("a", 7)
    taker.join(10)
    assert got == [7]


def test_the_pool_runs_the_jobs_of_its_sources_in_turn():
    pool = FairExecutor(threads=1, name="test")
    started, gate, ran = threading.Event(), threading.Event(), []
    pool.submit("first", lambda: (started.set(), gate.wait(10)))
    started.wait(10)  # the one worker is busy while the others queue
    for name in ("a1", "a2", "a3"):
        pool.submit("a", lambda name=name: ran.append(name))
    pool.submit("b", lambda: ran.append("b1"))
    gate.set()
    pool.shutdown()

    assert ran == ["a1", "b1", "a2", "a3"]
