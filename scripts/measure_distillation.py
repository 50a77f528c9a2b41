"""Quality of the distilled static student against its teacher ensemble and the hard-label static student.

A check of the distillation (``ambig distil``) before it joins 05's tables: ROC-AUC, length-controlled ROC-AUC
and macro-F1 on ClariQ, AmbigNQ dev and CLAMBER (NK + LA) for
- the teacher ensemble (every fold model of the teacher runs),
- the static student trained on the teacher set's hard labels (05's fast tier),
- the static student distilled on the transfer pool's soft labels.
Nothing here chooses anything: the distilled head was selected on the held-out pool split only.

    python scripts/measure_distillation.py --teacher-student minilm --seeds 0
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from ambig_lib.core.markdown import to_markdown
from ambig_lib.data.benchmarks import TRANSFER_BENCHMARKS, load_eval_set
from ambig_lib.evaluation.metrics import binary_metrics, length_controlled_roc_auc
from ambig_lib.training.distillation import distil, ensemble_soft_labels
from ambig_lib.training.static_student import StaticConfig, train_static_student


def scores(texts: list[str], labels: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    metrics = binary_metrics(labels, probability)
    return {"roc_auc": metrics["roc_auc"], "lc_roc_auc": length_controlled_roc_auc(texts, labels, probability)["auc"],
            "macro_f1": metrics["macro_f1"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--teacher-student", default="mpnet")
    parser.add_argument("--teacher-set", default="seed/gpt-4.1")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--static-base", default="minilm")
    args = parser.parse_args()
    result = distil("all", args.teacher_student, args.teacher_set, args.seeds, args.static_base, progress=False)
    distilled = result["static_student"]
    hard = train_static_student(args.teacher_set, 0, StaticConfig(base=args.static_base))
    rows = []
    for name in TRANSFER_BENCHMARKS:
        frame = load_eval_set(name)
        texts = frame["initial_request"].astype(str).tolist()
        labels = frame["binary_label"].astype(int).to_numpy()
        systems = {f"teacher: {args.teacher_student} ensemble, seeds {args.seeds}":
                   ensemble_soft_labels(texts, args.teacher_student, args.teacher_set, args.seeds, progress=False),
                   "static, hard labels (05's fast tier)": hard.predict_proba(texts),
                   "static, distilled on the pool's soft labels": distilled.predict_proba(texts)}
        for system, probability in systems.items():
            rows.append({"benchmark": name, "system": system, **scores(texts, labels, np.asarray(probability))})
    table = pd.DataFrame(rows)
    print(f"pool: {result['pool_rows']} queries; soft labels: {result['soft_labels']} ({result['soft_labels_status']})")
    print(f"distilled head: C = {result['best_c']}, held-out pool agreement {result['holdout_agreement']}")
    print(to_markdown(table))


if __name__ == "__main__":
    main()
