"""`iterdrag`: iterative demonstration-based RAG (Yue et al., 2024).

The model reads the question's documents (and demonstrations in the same format) and writes either
`Follow up: <sub-question>` or `So the final answer is: <answer>`. Each follow-up retrieves k more documents,
inserted into the chain before `Intermediate answer:`, which the model then writes. After at most n follow-ups
the final answer is forced. Every call extends the previous prompt, so an engine's own prefix reuse covers the
loop; the shared instructions and demonstrations come from the prefix cache.

Small models break this format often. Nothing here raises on model output: a reply without a marker counts as a
parse failure and is taken as a direct answer, a repeated follow-up ends the loop, and an empty final answer
falls back to answering from everything retrieved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...types import Hit
from ..answers import after_marker, first_answer
from ..budget import Budget, ContextBudgetError, largest_fitting
from ..layout import Prompt, build_prompt, document_views
from ..prompts import render_documents
from ..run import Run, Sampling
from ..strategy import OneCall, plan_prompt, strategy
from ..types import Candidate

FINAL_CUE = "So the final answer is:"
FOLLOW_UP = re.compile(r"^\s*(?:\*\*)?follow[\s-]*up(?:\s+question)?\s*\d*\s*[:\-]\s*(?:\*\*)?\s*(.+)$",
                       re.IGNORECASE | re.MULTILINE)
STEP_STOPS = ("Intermediate answer:", "\nQuestion:", "\nDocument [")
ANSWER_STOPS = ("\n", "Follow up:", FINAL_CUE)


@dataclass
class Parsed:
    kind: str  # final | follow_up | unparsed
    text: str


def parse_step(text: str) -> Parsed:
    """Read one reply of the loop: a final answer, a follow-up question, or neither."""
    final = after_marker(text)
    follow = FOLLOW_UP.search(text)
    if final and (not follow or text.lower().find("final answer") < follow.start()):
        return Parsed("final", final)
    if follow and follow.group(1).strip():
        return Parsed("follow_up", follow.group(1).strip())
    return Parsed("unparsed", first_answer(text))


@dataclass
class Loop:
    """One sample's chain in progress."""

    base: Prompt  # instructions, demonstrations, the question's documents, the question
    chain: str = ""  # the assistant's text so far
    hits: list[Hit] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)
    parse_failures: int = 0
    iterations: int = 0

    def prompt(self, more: str = "") -> Prompt:
        return self.base.extend(self.chain + more)


@strategy("iterdrag", order=40, description="iterative DRAG: up to n retrieve-and-answer follow-ups, then the "
          "final answer")
class IterDrag(OneCall):
    uses_retrieval = True
    uses_demonstrations = True  # optional: without them the model still follows the chain format's instructions
    iterative = True
    allocatable = True
    presets = {"iterdrag-n3": {"k": 5, "n": 3,
                               "description": "iterative DRAG: up to 3 retrieve-and-answer sub-questions"}}

    @classmethod
    def generation_calls(cls, n: int) -> int:
        return 1 + max(0, n)  # up to n follow-ups, then the final answer

    def answer(self, run: Run, budget: Budget, sampling: Sampling) -> Candidate:
        k, m = self.sizes(run)
        loop = self._start(run, budget, k, m)
        for _ in range(run.n):
            reply = self._next(run, budget, sampling, loop)
            if reply is None:
                break
            if reply.kind == "final":
                return self._candidate(loop, sampling, reply.text, run.calls[-1])
            if reply.kind == "unparsed":
                loop.parse_failures += 1
                if reply.text:  # the model answered directly from what it was given
                    return self._candidate(loop, sampling, reply.text, run.calls[-1])
                break
            if reply.text.lower() in (q.lower() for q in loop.asked):
                budget.note("iterdrag: a repeated follow-up ended the loop")
                break
            if not self._follow_up(run, budget, sampling, loop, reply.text, k):
                break
        else:
            if run.n:
                budget.note(f"iterdrag: reached n={run.n} iterations; final answer forced")
        return self._final(run, budget, sampling, loop)

    # -- the steps -------------------------------------------------------------------------------------------
    def _start(self, run: Run, budget: Budget, k: int, m: int) -> Loop:
        """The first prompt, planned so that it leaves room for the forced final call."""
        final_room = len(FINAL_CUE) + run.max_tokens
        try:
            base = plan_prompt(self, run, _halved(budget), k, m, run.step_tokens + final_room)
        except ContextBudgetError:
            base = plan_prompt(self, run, budget, k, m, run.max_tokens, reserve=0)
        loop = Loop(base, hits=list(base.hits))
        loop.asked.append(run.question)
        return loop

    def _next(self, run: Run, budget: Budget, sampling: Sampling, loop: Loop) -> Parsed | None:
        """Ask for a follow-up or the final answer, if one more iteration fits beside the final call."""
        prompt = loop.prompt()
        tokens = run.count(prompt.text)
        doc_tokens = _mean_document_tokens(run, loop.hits) * run.k
        next_iteration = tokens + (tokens + 2 * run.step_tokens + doc_tokens)
        final_after = tokens + 3 * run.step_tokens + doc_tokens + 16
        if not budget.affords(next_iteration + final_after) or \
                final_after + run.max_tokens > run.llm.context_length:
            budget.note(f"iterdrag: stopped after {loop.iterations} iteration(s) to stay within the budget")
            return None
        gen = run.complete(prompt, budget, kind="follow_up", sampling=sampling, max_tokens=run.step_tokens,
                           stop=STEP_STOPS)
        return parse_step(gen.text)

    def _follow_up(self, run: Run, budget: Budget, sampling: Sampling, loop: Loop, question: str, k: int) -> bool:
        """Retrieve for a sub-question and write its intermediate answer; False when the budget says stop."""
        loop.asked.append(question)
        seen = {h.chunk.chunk_id for h in loop.hits}
        fresh = [h for h in run.search(question, k + len(seen)) if h.chunk.chunk_id not in seen][:k]

        def text_for(count: int) -> str:
            docs = render_documents(document_views(fresh[:count], len(loop.hits) + 1))
            return f"Follow up: {question}\n" + (docs + "\n" if docs else "") + "Intermediate answer:"

        remaining = budget.remaining

        def misfit(count: int) -> int:  # 0 when this call and the final call after it fit; else 1
            tokens = run.count(loop.prompt(text_for(count)).text)
            final = tokens + run.step_tokens + 16
            ok = (remaining is None or tokens + final <= remaining) and final + run.max_tokens <= run.llm.context_length
            return 0 if ok else 1

        fit = largest_fitting(misfit, len(fresh), 0, 0)
        if fit is None:
            budget.note(f"iterdrag: stopped after {loop.iterations} iteration(s) to stay within the budget")
            return False
        used = fresh[: fit[0]]
        prompt = loop.prompt(text_for(len(used)))
        gen = run.complete(prompt, budget, kind="intermediate", sampling=sampling, max_tokens=run.step_tokens,
                           stop=ANSWER_STOPS, query=question, hits=used)
        loop.chain += text_for(len(used)) + f" {first_answer(gen.text) or 'unknown'}\n"
        loop.hits += used
        loop.iterations += 1
        return True

    def _final(self, run: Run, budget: Budget, sampling: Sampling, loop: Loop) -> Candidate:
        prompt = loop.prompt(FINAL_CUE)
        if not budget.affords(run.count(prompt.text)):  # only when the first prompt alone filled the budget
            prompt = loop.prompt()
        gen = run.complete(prompt, budget, kind="final", sampling=sampling, max_tokens=run.max_tokens,
                           stop=("\n",), hits=loop.hits)
        answer = after_marker(gen.text) or first_answer(gen.text)
        if answer:
            return self._candidate(loop, sampling, answer, gen)
        loop.parse_failures += 1
        return self._fallback(run, budget, sampling, loop)

    def _fallback(self, run: Run, budget: Budget, sampling: Sampling, loop: Loop) -> Candidate:
        """Answer plainly (no chain) from everything retrieved, if that fits; else from the last intermediate."""
        prompt = build_prompt(run.llm, run.template, run.question, loop.hits)
        if budget.affords(run.count(prompt.text)) and run.count(prompt.text) + run.max_tokens <= run.llm.context_length:
            gen = run.complete(prompt, budget, kind="fallback", sampling=sampling, max_tokens=run.max_tokens,
                               hits=loop.hits)
            return self._candidate(loop, sampling, first_answer(gen.text), gen)
        budget.note("iterdrag: no budget left for a fallback answer")
        last = re.findall(r"Intermediate answer: (.*)", loop.chain)
        return self._candidate(loop, sampling, last[-1].strip() if last else "", None)

    @staticmethod
    def _candidate(loop: Loop, sampling: Sampling, answer: str, gen) -> Candidate:
        return Candidate(answer, sampling.index, list(loop.hits), gen, parse_failures=loop.parse_failures,
                         iterations=loop.iterations)


def _halved(budget: Budget) -> Budget:
    """A view of the budget with half of what is left: the first prompt must leave room for the final call,
    which reads at least as much."""
    remaining = budget.remaining
    return budget if remaining is None else Budget(remaining // 2, budget.context_length, notes=budget.notes)


def _mean_document_tokens(run: Run, hits: list[Hit]) -> int:
    if not hits:
        return 0
    return run.count(render_documents(document_views(hits))) // len(hits) + 1
