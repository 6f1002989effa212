from fauxpilot.engine.drafting import NgramDrafter


def test_proposes_what_followed_the_last_ngram_before() -> None:
    drafter = NgramDrafter([1, 2, 3, 4, 5, 9, 1, 2, 3])
    assert drafter.propose(3) == [4, 5, 9]
    assert drafter.propose(10) == [4, 5, 9, 1, 2, 3]


def test_most_recent_occurrence_wins_and_extend_updates() -> None:
    drafter = NgramDrafter([7, 8, 9, 1, 7, 8, 9, 2, 7, 8])
    drafter.extend([9])
    assert drafter.propose(1) == [2]


def test_no_match_no_draft() -> None:
    assert NgramDrafter([1, 2, 3, 4]).propose(4) == []
    assert NgramDrafter([1, 2]).propose(4) == []
    assert NgramDrafter([1, 2, 3, 1, 2, 3]).propose(0) == []
