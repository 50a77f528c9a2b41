"""A tiny word-level static encoder saved like a distilled Model2Vec one (shared by the static-student tests)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ambig_lib.core.io import sha256_file, write_json_atomic
from ambig_lib.training.static_student import ENCODER_META, PRECISION


def save_word_encoder(folder: Path, words: Sequence[str], dims: int = 8) -> Path:
    """One random (seeded) ``dims``-dimensional vector per word of ``words`` plus ``[UNK]``; lower-cased,
    whitespace-split; saved to ``folder`` with the metadata ``distill_static_encoder`` writes."""
    from model2vec import StaticModel
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    vocabulary = ["[UNK]", *words]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocabulary)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    vectors = np.random.default_rng(1).normal(size=(len(vocabulary), dims)).astype(np.float16)
    StaticModel(vectors, tokenizer).save_pretrained(str(folder))
    write_json_atomic(folder / ENCODER_META, {"precision": PRECISION,
                                              "weights_sha256": sha256_file(folder / "model.safetensors")})
    return folder
