import torch
import torch.nn.functional as F

from llmopt.train.finetune.loss import linear_cross_entropy


def test_chunked_loss_matches_cross_entropy_and_its_gradients():
    torch.manual_seed(0)
    hidden = torch.randn(37, 16, requires_grad=True)
    weight = torch.randn(50, 16, requires_grad=True)
    bias = torch.randn(50, requires_grad=True)
    targets = torch.randint(0, 50, (37,))
    chunked = linear_cross_entropy(hidden, weight, bias, targets, chunk=8)
    (2 * chunked).backward()
    grads = [t.grad.clone() for t in (hidden, weight, bias)]
    for t in (hidden, weight, bias):
        t.grad = None
    reference = F.cross_entropy(F.linear(hidden, weight, bias), targets, reduction="sum")
    (2 * reference).backward()
    assert torch.allclose(chunked, reference, atol=1e-4)
    for mine, t in zip(grads, (hidden, weight, bias)):
        assert torch.allclose(mine, t.grad, atol=1e-4)


def test_frozen_output_layer_gets_no_gradient():
    hidden = torch.randn(5, 4, requires_grad=True)
    weight = torch.randn(9, 4)  # frozen, as under LoRA
    linear_cross_entropy(hidden, weight, None, torch.tensor([1, 2, 3, 4, 5]), chunk=2).backward()
    assert hidden.grad is not None and weight.grad is None
