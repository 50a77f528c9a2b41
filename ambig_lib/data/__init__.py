"""Public benchmarks, teacher sets and the supervised ceilings' training rows."""
