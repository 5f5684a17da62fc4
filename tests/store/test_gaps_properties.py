"""Gap list operations agree with a plain set-of-ids model, whatever the order."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from orders_cli.models import Gap
from orders_cli.store import gaps as gapops

ops = st.lists(
    st.one_of(
        st.tuples(st.just("fill"), st.integers(0, 60)),
        st.tuples(st.just("exch"), st.integers(0, 60), st.integers(0, 8)),
    ),
    max_size=40,
)


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 6)), max_size=6), ops)
def test_gap_ops_match_a_set_model(opens: list[tuple[int, int]], steps: list[tuple]) -> None:  # type: ignore[type-arg]  # heterogenous op tuples
    gaps: list[Gap] = []
    missing: set[int] = set()
    exchange: set[int] = set()
    top = -1
    for start, size in opens:  # gaps only open above everything opened so far
        first = max(start, top + 1)
        gapops.open_gap(gaps, Gap(first, first + size, 0))
        missing |= set(range(first, first + size + 1))
        top = first + size
    for op in steps:
        if op[0] == "fill":
            idx = gapops.find(gaps, op[1])
            assert (idx is not None) == (op[1] in missing | exchange)
            if idx is not None:
                gapops.fill(gaps, idx, op[1])
                missing.discard(op[1])
                exchange.discard(op[1])
        else:
            lo, hi = op[1], op[1] + op[2]
            gapops.mark_exchange_side(gaps, lo, hi)
            moved = {i for i in missing if lo <= i <= hi}
            missing -= moved
            exchange |= moved
        ids = {i for g in gaps for i in range(g.first, g.last + 1)}
        assert ids == missing | exchange
        assert {i for g in gaps if g.exchange_side for i in range(g.first, g.last + 1)} == exchange
        assert all(a.last < b.first for a, b in itertools.pairwise(gaps))
        assert gapops.decode_gaps(gapops.encode_gaps(gaps)) == gaps
