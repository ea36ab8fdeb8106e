"""What of the centre's figures may be published (CONTRACT §10): never a group
of fewer than five requests, nor a figure resting on fewer than five.

A count under five is withheld ("fewer than 5"). In a breakdown whose total is
published, one withheld count would be the total minus the others, so other
counts are withheld with it until the withheld ones together are not a small
group either (complementary suppression, as statistics offices do).
"""

from collections.abc import Mapping
from dataclasses import dataclass

MINIMUM = 5
SMALL = "fewer_than_5"  # the count itself is under five
COVER = "protects_a_small_group"  # withheld so that a small one cannot be worked out


@dataclass(frozen=True)
class Cell:
    """A published count, or the reason it is withheld."""

    count: int | None
    withheld: str | None = None


def shown_count(count: int) -> Cell:
    return Cell(None, SMALL) if count < MINIMUM else Cell(count)


def shown_measure(value: float | None, base: int) -> float | None:
    """A rate, mean or median, only when at least five requests or ratings
    are behind it."""
    return value if base >= MINIMUM else None


def _revealing(withheld: list[int]) -> bool:
    """Whether the withheld counts, whose sum the total gives away, still
    tell something of a small group: their sum is one (1 to 4), or every one
    of them must be 4."""
    total = sum(withheld)
    return 0 < total < MINIMUM or (bool(withheld) and total == 4 * len(withheld))


def breakdown(counts: Mapping[str, int]) -> dict[str, Cell]:
    """The cells of a breakdown whose total is published elsewhere."""
    cells = {key: shown_count(count) for key, count in counts.items()}
    withheld = [counts[key] for key, cell in cells.items() if cell.withheld]
    while _revealing(withheld):
        published = [key for key, cell in cells.items() if not cell.withheld]
        if not published:
            break
        smallest = min(published, key=lambda key: (counts[key], key))
        cells[smallest] = Cell(None, COVER)
        withheld.append(counts[smallest])
    return cells
