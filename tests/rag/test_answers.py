from llmopt.metrics import accuracy, f1, normalize_answer
from llmopt.rag.answers import normalize, parse_answer


def test_parse_answer_leniently():
    assert parse_answer("Answer: Lisbon.\nMore text") == ("Lisbon", True)
    assert parse_answer("  **Lisbon**  ") == ("Lisbon", True)
    assert parse_answer("") == ("", False)
    assert parse_answer("The answer to this question is: Mira Okafor\n\nThe next") == ("Mira Okafor", True)
    assert parse_answer("Question: How long?\n\nAnswer: 55 minutes") == ("55 minutes", True)
    assert parse_answer("Question: How long?\nIt flies 55 minutes.") == ("It flies 55 minutes", True)
    marked = "Step one.\nStep two.\nSo the final answer is: 1911."
    assert parse_answer(marked, "So the final answer is:") == ("1911", True)
    assert parse_answer("reasoning...\nfinal answer: Porto", "So the final answer is:") == ("Porto", True)
    assert parse_answer("some reasoning\nPorto", "So the final answer is:") == ("Porto", False)


def test_normalize_and_match():
    assert normalize("The  University of Porto!") == "university of porto"
    assert accuracy("It was the University of Porto.", "University of Porto") == 1.0
    assert accuracy("Porto Alegre", "Lisbon") == 0.0 and accuracy("anything", "") == 0.0


def test_rag_compares_answers_with_the_one_normalizer():
    """Voting and demonstration matching key answers by llmopt.metrics's SQuAD normalization, not a copy."""
    assert normalize is normalize_answer


def test_token_f1_gives_partial_credit():
    assert f1("12,400 euros", "EUR 12,400") == 0.5
    assert f1("The Tern-3", "tern-3") == 1.0 and f1("", "x") == 0.0 and f1("", "") == 1.0
