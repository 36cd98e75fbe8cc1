import pytest

from llmopt.rag.budget import Budget, BudgetOverrun, fit_prompt, largest_fitting


def test_fit_prompt_drops_demonstrations_before_documents():
    cost = lambda k, m: 10 + 5 * k + 5 * k * m  # each demonstration carries k documents of its own
    assert fit_prompt(cost, 4, 3, 1000) == (4, 3, 90)
    assert fit_prompt(cost, 4, 3, 50) == (4, 1, 50)
    assert fit_prompt(cost, 4, 3, 29) == (3, 0, 25)
    assert fit_prompt(cost, 4, 3, 14) is None
    assert fit_prompt(cost, 0, 0, 10) == (0, 0, 10)


def test_largest_fitting_is_a_search_over_a_growing_count():
    seen = []
    found = largest_fitting(lambda n: seen.append(n) or n * 7, 100, 0, 50)
    assert found == (7, 49) and len(seen) <= 8


def test_shares_count_in_the_parent_and_never_overrun():
    budget = Budget(100, context_length=60)
    assert budget.room(10) == 50  # the model's window binds first
    share = budget.share(30)
    share.charge(30)
    assert budget.spent == 30 and budget.remaining == 70 and share.remaining == 0
    with pytest.raises(BudgetOverrun):
        share.charge(1)
    budget.charge(70)
    with pytest.raises(BudgetOverrun):
        budget.charge(1)
    unlimited = Budget(None, context_length=60)
    unlimited.charge(10_000)
    assert unlimited.remaining is None and unlimited.room(10) == 50
