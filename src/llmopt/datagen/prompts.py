"""The generator's prompts: chat messages with one worked example each (small models follow an example far better
than an instruction), asking for exactly two lines, "Question: ..." and "Answer: ...". The round-trip prompt shows
the evidence alone and asks for a short answer. No backend here takes a JSON schema, so the format is parsed
(filters.parse_qa) rather than enforced."""

from __future__ import annotations

from ..types import Chunk
from .candidates import Candidate

Message = dict[str, str]

SYSTEM = ("You write quiz questions about documents. Reply with exactly two lines:\n"
          "Question: <a question the text answers>\n"
          "Answer: <the answer, a few words copied from the text>\n"
          "The question must not contain its answer.")

EXAMPLES = {
    "single": ("Passage:\nThe Tartu plant opened in 2011 and builds the Harvest-X drone. It employs 240 people.",
               "Question: How many people does the Tartu plant employ?\nAnswer: 240"),
    "table": ("Table:\n| Region | Units shipped |\n| --- | --- |\n| North | 1,200 |\n| South | 950 |",
              "Question: How many units were shipped to the North region?\nAnswer: 1,200"),
    "picture": ("Picture (caption and the text read from it):\nFigure 2: Revenue by year. 2022: 3.1 M. "
                "2023: 4.2 M.",
                "Question: What revenue does Figure 2 show for 2023?\nAnswer: 4.2 M"),
    "multi": ("Passage 1:\nThe Harvest-X drone is built at the Tartu plant.\n\nPassage 2:\nThe Tartu plant is "
              "managed by Jonas Lie.\n\nBoth passages mention: Tartu plant",
              "Question: Who manages the plant where the Harvest-X drone is built?\nAnswer: Jonas Lie"),
}

INSTRUCTIONS = {
    "single": "Write one question that this passage answers.",
    "table": "Write one question that a value in this table answers.",
    "picture": "Write one question about what this picture shows.",
    "multi": ("Write one question that needs both passages: the first passage leads to the shared entity, the "
              "second gives the answer."),
}


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split()) if "|" not in text else text.strip()  # tables keep their rows
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def evidence_text(candidate: Candidate, limit: int) -> str:
    """The evidence as the generator and the round trip see it."""
    if candidate.kind == "multi":
        a, b = candidate.chunks
        return (f"Passage 1:\n{clip(a.text, limit)}\n\nPassage 2:\n{clip(b.text, limit)}\n\n"
                f"Both passages mention: {candidate.bridge}")
    (chunk,) = candidate.chunks
    label = {"table": "Table", "picture": "Picture (caption and the text read from it)"}.get(candidate.kind,
                                                                                              "Passage")
    return f"{label}:\n{_with_section(chunk, clip(chunk.text, limit))}"


def _with_section(chunk: Chunk, text: str) -> str:
    return f"({chunk.section})\n{text}" if chunk.section else text


def generation_messages(candidate: Candidate, limit: int) -> list[Message]:
    example_in, example_out = EXAMPLES[candidate.kind]
    instruction = INSTRUCTIONS[candidate.kind]
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"{example_in}\n\n{instruction}"},
            {"role": "assistant", "content": example_out},
            {"role": "user", "content": f"{evidence_text(candidate, limit)}\n\n{instruction}"}]


def round_trip_messages(candidate: Candidate, question: str, limit: int) -> list[Message]:
    evidence = evidence_text(candidate, limit)
    if candidate.kind == "multi":  # the bridge line would be a hint the real question does not come with
        evidence = evidence.rsplit("\n\nBoth passages mention:", 1)[0]
    return [{"role": "system", "content": "Answer the question using only the text given. Reply with the "
             "answer alone, a few words, on one line."},
            {"role": "user", "content": f"{evidence}\n\nQuestion: {question}"}]
