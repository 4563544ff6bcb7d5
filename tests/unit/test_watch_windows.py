"""Crash-loop windows as pure pieces: where a new window goes, and what an alert and its summary are about."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockhand.state.alerts import Window, place_window
from dockhand.watch.formats import subject


def _window(start: int, end: int) -> Window:
    return Window(anchor=start, start=start, end=end, opener=f"task-{start}")


@given(stops=st.lists(st.integers(0, 10_000), min_size=1, max_size=40), half=st.integers(1, 900))
def test_windows_placed_in_any_arrival_order_cover_their_stop_and_never_overlap(stops: list[int], half: int) -> None:
    # Given stops arriving in any order, each opening a window when none covers it
    windows: list[Window] = []
    for t in stops:
        if any(w.covers(t) for w in windows):
            continue
        # When a window is placed around it
        start, end = place_window(t, half, windows)
        windows.append(_window(start, end))
        # Then it covers the stop, spans at most the window length either side, and overlaps no other window
        assert start <= t <= end
        assert t - half <= start and end <= t + half
    spans = sorted((w.start, w.end) for w in windows)
    assert all(a_end < b_start for (_, a_end), (b_start, _) in pairwise(spans))


@given(first=st.integers(0, 10_000), offsets=st.lists(st.integers(0, 600), min_size=1, max_size=60))
def test_stops_within_one_window_length_are_covered_by_the_first_window_whatever_arrives_first(
    first: int, offsets: list[int]
) -> None:
    # Given stops that all fall within ten minutes of each other, the first to arrive being any of them
    stops = [first + o for o in offsets]
    opener = stops[0]
    # When the first to arrive opens a window
    start, end = place_window(opener, 600, [])
    # Then that one window covers every one of them
    assert all(start <= t <= end for t in stops)


@pytest.mark.parametrize(
    ("group", "family", "expected"),
    [
        ("service:web", "web", "web"),
        ("service:web", "web-td", "web (web-td)"),
        ("family:nightly", "nightly", "nightly"),
        ("batch-a", "nightly", "batch-a (nightly)"),
        ("service:web", "", "web"),
    ],
)
def test_the_subject_names_the_group_and_a_family_that_differs(group: str, family: str, expected: str) -> None:
    assert subject(group, family) == expected
