"""Answering with inference scaling: prompt templates, RAG, DRAG, IterDRAG, output selection, a context budget,
citations and prefix caching. The entry point is `llmopt.ask` (rag/api.py)."""
