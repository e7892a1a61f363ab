from __future__ import annotations

from senders.pages import PageGate


def test_stopped_page_waits_probes_once_per_interval_and_resumes() -> None:
    gate = PageGate(probe_s=10.0)
    assert gate.decide("p", 0.0, None) == ("send", 0.0)
    assert gate.stop("p", 0.0, 190, "bad token") is True
    assert gate.stop("p", 1.0, 190, "bad token") is False  # alert once
    decision, wait = gate.decide("p", 2.0, 1.0)
    assert decision == "wait" and 0 < wait <= 1.0
    assert gate.decide("q", 2.0, None) == ("send", 0.0)  # other pages go on
    assert gate.decide("p", 11.5, 1.0)[0] == "probe"
    assert gate.decide("p", 11.6, 1.0)[0] == "wait"  # one prober per interval
    assert gate.resume("p") is True
    assert gate.decide("p", 12.0, None) == ("send", 0.0)


def test_stopped_page_dead_letters_after_the_configured_time() -> None:
    gate = PageGate(probe_s=100.0, dlq_after_s=5.0)
    gate.stop("p", 0.0, 368, "policy")
    assert gate.decide("p", 3.0, 0.0)[0] == "wait"
    assert gate.decide("p", 5.0, 0.0) == ("dead_letter", 0.0)
