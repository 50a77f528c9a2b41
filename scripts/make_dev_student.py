"""Fine-tune a student briefly on a published teacher set: a stand-in for serving and latency work.

This is not the study's training recipe (that is ``ambig_lib.training.finetune``); it is a few hundred plain AdamW steps
so that export, predictor and latency code can be developed and tested against a real, non-trivial classifier.
The result is cached by recipe: a second call with the same arguments returns the saved directory at once.

    python scripts/make_dev_student.py OUT_DIR [--steps 200] [--teacher-set seed/gpt-4.1] [--student minilm]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ambig_lib.data.teacher_sets import load_teacher_set
from ambig_lib.models.students import load_classifier, load_tokenizer, resolve_student


def train_dev_student(out_dir: str | Path, *, student: str = "minilm", teacher_set: str = "seed/gpt-4.1",
                      steps: int = 200, batch_size: int = 16, max_length: int = 32, lr: float = 1e-4,
                      seed: int = 0, threads: int = 2) -> Path:
    """Train (or reuse) a briefly fine-tuned binary classifier saved with ``save_pretrained`` in ``out_dir``."""
    out = Path(out_dir)
    recipe = {"student": student, "teacher_set": teacher_set, "steps": steps, "batch_size": batch_size,
              "max_length": max_length, "lr": lr, "seed": seed}
    marker = out / "dev_student.json"
    if marker.is_file() and json.loads(marker.read_text())["recipe"] == recipe:
        return out
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    path = resolve_student(student)
    tokenizer, model = load_tokenizer(path), load_classifier(path)
    frame = load_teacher_set(teacher_set)
    texts, labels = frame["initial_request"].tolist(), frame["binary_label"].to_numpy()
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    order = rng.permutation(len(texts))
    losses = []
    for step in tqdm(range(steps), desc="dev student"):
        start = (step * batch_size) % len(order)
        if start + batch_size > len(order):
            order = rng.permutation(len(texts))
            start = 0
        idx = order[start:start + batch_size]
        batch = tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=max_length,
                          return_tensors="pt")
        loss = model(**batch, labels=torch.as_tensor(labels[idx], dtype=torch.long)).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss))
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    marker.write_text(json.dumps({"recipe": recipe, "final_loss": float(np.mean(losses[-20:]))}, indent=2))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--student", default="minilm")
    parser.add_argument("--teacher-set", default="seed/gpt-4.1")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(train_dev_student(args.out_dir, student=args.student, teacher_set=args.teacher_set, steps=args.steps,
                            seed=args.seed))


if __name__ == "__main__":
    main()
