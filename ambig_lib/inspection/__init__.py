"""Statistics and figures of teacher sets (the length shortcut), and their export as HF datasets."""
