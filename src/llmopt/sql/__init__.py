"""Text-to-SQL over SQLite: schema serialization, prompts, DAIL-SQL example selection, safe execution,
self-correction, execution-based self-consistency, and Spider execution-accuracy evaluation.

    from llmopt import sql_ask, sql_run, sql_eval, SQLConfig
    answer = sql_ask("How many singers are there?", "concert_singer.sqlite", examples="pool.jsonl",
                     strategy="fewshot-sc", samples=5)
    summary = sql_eval("spider/", out="runs/fewshot", strategy="fewshot", limit=100)

Modules: safe (read-only executor), sandbox (the killable child process queries run in), schema, prompts,
examples (pools, DAIL selection), vote, pipeline (TextToSQL, ask), evaluate (result matching), hardness,
spider (loader), runner (resumable evaluation), report.
"""
