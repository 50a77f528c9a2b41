"""Query-ambiguity detection by distillation: data, teachers, generation, training, evaluation, latency."""

__version__ = "0.1.0"
