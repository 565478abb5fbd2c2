from ecom.churn.registry import decide_champion


def test_first_model_becomes_champion():
    decision = decide_champion(0.71, None, None)
    assert decision.promote
    assert decision.reason == "no champion yet"


def test_better_candidate_is_promoted_with_both_scores():
    decision = decide_champion(0.82, 0.80, "3")
    assert decision.promote
    assert (decision.candidate_score, decision.champion_score, decision.champion_version) == (
        0.82,
        0.80,
        "3",
    )
    assert "beats champion v3" in decision.reason


def test_worse_or_equal_candidate_keeps_the_champion():
    assert not decide_champion(0.79, 0.80, "3").promote
    assert not decide_champion(0.80, 0.80, "3").promote


def test_min_improvement_guards_against_noise():
    assert not decide_champion(0.805, 0.80, "3", min_improvement=0.01).promote
    assert decide_champion(0.811, 0.80, "3", min_improvement=0.01).promote


def test_champion_that_cannot_score_is_replaced():
    decision = decide_champion(0.7, None, "2")
    assert decision.promote
    assert "cannot score" in decision.reason
