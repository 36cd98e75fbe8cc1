"""One module per answering strategy, discovered by llmopt.rag.strategy (pkgutil over this package): adding a
strategy is one file here with `@strategy(name, order=..., description=...)` on a Strategy subclass that declares
what callers ask about it (retrieval, demonstrations, iteration, the grid axes it reads, serve presets)."""
