"""Topics and real seeds, prompt styles, parsing and validation, filters and dedup, the generation stage."""
