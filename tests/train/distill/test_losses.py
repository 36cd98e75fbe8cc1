"""Each KD loss against values computed by hand on 3-token distributions."""

import math

import pytest
import torch

from llmopt.train.distill.losses import SparseTeacher, forward_kl, generalized_jsd, kd_loss, reverse_kl, sparsify

# student logits log([0.5, 0.25, 0.25]) and teacher logits log([0.25, 0.5, 0.25]): softmax gives those exactly
STUDENT = torch.log(torch.tensor([[0.5, 0.25, 0.25]]))
TEACHER = torch.log(torch.tensor([[0.25, 0.5, 0.25]]))
P, Q = [0.25, 0.5, 0.25], [0.5, 0.25, 0.25]  # teacher, student


def kl(p, q):
    return sum(a * math.log(a / b) for a, b in zip(p, q))


def test_forward_and_reverse_kl_match_hand_values():
    # KL(teacher||student) = 0.25 ln(0.5) + 0.5 ln(2) = 0.25 ln 2
    assert forward_kl(STUDENT, TEACHER).item() == pytest.approx(0.25 * math.log(2), abs=1e-6)
    assert forward_kl(STUDENT, TEACHER).item() == pytest.approx(kl(P, Q), abs=1e-6)
    assert reverse_kl(STUDENT, TEACHER).item() == pytest.approx(kl(Q, P), abs=1e-6)


def test_generalized_jsd_matches_hand_value_and_its_limits():
    beta = 0.3
    m = [beta * p + (1 - beta) * q for p, q in zip(P, Q)]
    expected = beta * kl(P, m) + (1 - beta) * kl(Q, m)
    assert generalized_jsd(STUDENT, TEACHER, beta=beta).item() == pytest.approx(expected, abs=1e-6)
    assert generalized_jsd(STUDENT, TEACHER, beta=0.0).item() == pytest.approx(kl(P, Q), abs=1e-6)
    assert generalized_jsd(STUDENT, TEACHER, beta=1.0).item() == pytest.approx(kl(Q, P), abs=1e-6)
    assert kd_loss("jsd", STUDENT, TEACHER, beta=beta).item() == pytest.approx(expected, abs=1e-6)


def test_temperature_softens_both_sides_and_scales_by_t_squared():
    t = 2.0
    p = torch.softmax(TEACHER[0] / t, -1).tolist()
    q = torch.softmax(STUDENT[0] / t, -1).tolist()
    assert forward_kl(STUDENT, TEACHER, temperature=t).item() == pytest.approx(t * t * kl(p, q), abs=1e-6)


def test_sparse_teacher_compares_top_k_plus_the_rest():
    # teacher top-1 is token 1 (p=0.5); rest = 0.5. Student: p(token 1)=0.25, rest 0.75.
    sparse = sparsify(TEACHER, k=1)
    assert sparse.ids.tolist() == [[1]] and sparse.logprobs.exp().item() == pytest.approx(0.5)
    assert forward_kl(STUDENT, sparse).item() == pytest.approx(kl([0.5, 0.5], [0.25, 0.75]), abs=1e-6)
    assert reverse_kl(STUDENT, sparse).item() == pytest.approx(kl([0.25, 0.75], [0.5, 0.5]), abs=1e-6)
    full = SparseTeacher(torch.tensor([[0, 1, 2]]), TEACHER.log_softmax(-1))  # k = vocabulary: the exact loss
    assert forward_kl(STUDENT, full).item() == pytest.approx(kl(P, Q), abs=1e-5)


def test_gradients_flow_to_the_student_only_and_unknown_loss_fails():
    student = STUDENT.clone().requires_grad_(True)
    kd_loss("rkl", student, TEACHER).sum().backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="known: fkl, rkl, jsd"):
        kd_loss("mse", STUDENT, TEACHER)
