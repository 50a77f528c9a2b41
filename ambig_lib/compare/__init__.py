"""LLM-direct classification and the latency harness."""
