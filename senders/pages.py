"""Pages that must not send (invalid token 190, policy block 368). Pure: time is passed in.

A stopped page keeps its commands waiting. Every `probe_s` one waiting command may try again
(so a fixed token resumes the page without a restart); a success resumes the page. With
`dlq_after_s` > 0, a command that waited longer than that is dead-lettered instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StoppedPage:
    since: float
    code: int
    message: str
    next_probe: float


@dataclass
class PageGate:
    probe_s: float = 60.0
    dlq_after_s: float = 0.0
    stopped: dict[str, StoppedPage] = field(default_factory=dict)

    def stop(self, page_id: str, now: float, code: int, message: str) -> bool:
        """Stop the page; True when it was running (log and alert once)."""
        if page_id in self.stopped:
            self.stopped[page_id].next_probe = now + self.probe_s
            return False
        self.stopped[page_id] = StoppedPage(now, code, message, now + self.probe_s)
        return True

    def resume(self, page_id: str) -> bool:
        return self.stopped.pop(page_id, None) is not None

    def decide(self, page_id: str, now: float, held_since: float | None) -> tuple[str, float]:
        """("send", 0) | ("probe", 0) | ("wait", seconds) | ("dead_letter", 0)."""
        page = self.stopped.get(page_id)
        if page is None:
            return "send", 0.0
        if self.dlq_after_s > 0 and held_since is not None and now - held_since >= self.dlq_after_s:
            return "dead_letter", 0.0
        if now >= page.next_probe:
            page.next_probe = now + self.probe_s  # one prober per interval
            return "probe", 0.0
        wait = page.next_probe - now
        if self.dlq_after_s > 0 and held_since is not None:
            wait = min(wait, held_since + self.dlq_after_s - now)
        return "wait", max(0.01, min(wait, 1.0))
