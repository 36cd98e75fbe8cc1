import torch

from llmopt.train.finetune.data import parse_row
from llmopt.train.finetune.loss import token_loss_sum
from llmopt.train.finetune.modelio import load_model, load_tokenizer
from llmopt.train.finetune.packing import collate, plan_steps
from llmopt.train.finetune.template import Renderer


def rows_for(tiny_model, prompts):
    renderer = Renderer(load_tokenizer(str(tiny_model)))
    return [renderer.tokenize(parse_row(f'{{"prompt": "{p}", "completion": "The answer is {i}."}}', "f"))
            for i, p in enumerate(prompts)]


@torch.no_grad()
def test_packed_rows_do_not_see_each_other(tiny_model):
    model, varlen = load_model(str(tiny_model))
    assert varlen
    rows = rows_for(tiny_model, ["What is 1 plus 2?", "Name a colour.", "SELECT name FROM singer;"])
    alone = [float(token_loss_sum(model, collate([r], True, 0))[0]) for r in rows]
    packed, n = token_loss_sum(model, collate(rows, True, 0))
    padded, _ = token_loss_sum(model, collate(rows, False, 0))
    masked, _ = token_loss_sum(model, collate(rows, True, 0), varlen=False)  # transformers' position-id masking
    assert n == sum(r.trained_tokens for r in rows)
    for value in (packed, padded, masked):
        assert abs(float(value) - sum(alone)) < 1e-3
    # changing the first example must not move the loss of the others in the same packed row
    other = rows_for(tiny_model, ["A completely different first prompt, longer than before.", "Name a colour.",
                                  "SELECT name FROM singer;"])
    changed, _ = token_loss_sum(model, collate(other, True, 0))
    first = float(token_loss_sum(model, collate(other[:1], True, 0))[0])
    assert abs((float(changed) - first) - sum(alone[1:])) < 1e-3


def test_plan_is_deterministic_and_covers_each_epoch_once():
    plan = plan_steps(10, batch_size=2, grad_accum=2, processes=1, epochs=2, max_steps=None, seed=0)
    assert len(plan) == 6 and plan.steps_per_epoch == 3
    first_epoch = [i for step in plan.steps[:3] for mb in step[0] for i in mb]
    assert sorted(first_epoch) == list(range(10))
    assert plan.steps == plan_steps(10, batch_size=2, grad_accum=2, processes=1, epochs=2, max_steps=None, seed=0).steps
    two = plan_steps(10, batch_size=2, grad_accum=1, processes=2, epochs=1, max_steps=None, seed=0)
    for step in two.steps:
        shares = [set(i for mb in share for i in mb) for share in step]
        assert len(step) == 2 and all(shares) and shares[0].isdisjoint(shares[1])
    assert len(plan_steps(10, batch_size=4, grad_accum=1, processes=1, epochs=1, max_steps=7, seed=0)) == 7
