"""`Heard`: which messages of one room an agent has heard, by seq."""

from __future__ import annotations

MAX_AHEAD = 1000  # seqs held past a gap before the gap is given up on


class Heard:
    """The seqs of one room an agent has heard. In a cluster each process relays the
    messages it stores at once and the others' a moment later, so a socket may hear seq 8
    before seq 7: a message is new unless its own seq was heard, not whenever a higher one was.
    `upto` is the seq through which everything was heard (a resume asks for what follows
    it); `ahead` holds the seqs heard past a gap. Seqs of a room have no holes, so a gap fills
    within moments; one still open after `MAX_AHEAD` later messages is given up on."""

    __slots__ = ("ahead", "upto")

    def __init__(self) -> None:
        self.upto = -1  # -1: not yet anchored by a join's answer, every seq is new
        self.ahead: set[int] = set()

    def first_time(self, seq: int) -> bool:
        """Record `seq` as heard; whether it was new."""
        if seq <= self.upto or seq in self.ahead:
            return False
        self.ahead.add(seq)
        self._advance()
        return True

    def heard_through(self, seq: int) -> None:
        """Count everything through `seq` as heard (a join answers with the room's last seq)."""
        if seq > self.upto:
            self.upto = seq
            self.ahead = {s for s in self.ahead if s > seq}
            self._advance()

    @property
    def resume_after(self) -> int:
        """The seq a resume asks to replay after: nothing past it is lost, and what is replayed
        that was already heard is recognized by `first_time`."""
        if self.upto >= 0:
            return self.upto
        return max(min(self.ahead, default=1) - 1, 0)

    def _advance(self) -> None:
        while True:
            while self.upto + 1 in self.ahead:
                self.upto += 1
                self.ahead.discard(self.upto)
            if len(self.ahead) <= MAX_AHEAD or self.upto < 0:
                return
            self.upto = min(self.ahead) - 1  # the gap never filled: stop waiting for it
