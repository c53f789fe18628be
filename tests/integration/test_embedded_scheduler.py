"""The embedded scheduler: however many web processes start one, only the holder of
the lease in the database sweeps, and another takes over when the holder stops."""

from datetime import timedelta

from app import jobs
from app.scheduler import run_once


def test_only_one_of_two_schedulers_holds_the_lease_until_it_lapses(rt, clock):
    ttl = timedelta(minutes=3)
    assert jobs.acquire_scheduler_lock(rt, "web-1", clock.now, ttl)
    assert not jobs.acquire_scheduler_lock(rt, "web-2", clock.now + timedelta(minutes=1), ttl)
    assert jobs.acquire_scheduler_lock(rt, "web-1", clock.now + timedelta(minutes=1), ttl)  # renewal
    assert not jobs.acquire_scheduler_lock(rt, "web-2", clock.now + timedelta(minutes=3), ttl)
    assert jobs.acquire_scheduler_lock(rt, "web-2", clock.now + timedelta(minutes=5), ttl)  # web-1 went quiet
    assert not jobs.acquire_scheduler_lock(rt, "web-1", clock.now + timedelta(minutes=5), ttl)


def test_a_standby_scheduler_tick_does_not_sweep(app, rt, clock):
    assert run_once(app, "web-1") == "ran"
    assert run_once(app, "web-2") == "standby"
    clock.advance(minutes=10)
    assert run_once(app, "web-2") == "ran"
