"""The transfer study's strategies: taxonomy and real_seeded prompts, counterfactual edits, controls, the new
benchmarks and the development slice, the length-controlled ROC-AUC, and the frozen probe."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ambig_lib.data import benchmarks as data
from ambig_lib.data import teacher_sets
from ambig_lib.evaluation.metrics import length_controlled_roc_auc
from ambig_lib.generation import counterfactual, strategies
from ambig_lib.generation.parsing import OutputRejected, parse_topic_output
from ambig_lib.generation.prompts import EXAMPLE_TOPIC, PROMPT_STYLES, REGISTERS, TAXONOMY, register_plan
from ambig_lib.generation.stage import generation_units
from ambig_lib.generation.topics import load_topics

# ------------------------------------------------------------------------------------------- prompts

def test_taxonomy_schema_requires_one_pair_of_every_type() -> None:
    style = PROMPT_STYLES["taxonomy"]
    schema = style.json_schema()
    assert schema["required"] == list(TAXONOMY) and len(TAXONOMY) >= 8
    assert schema["additionalProperties"] is False
    item = schema["properties"]["unresolved_reference"]
    assert item["required"] == ["specific_query", "ambiguous_query", "missing_information"]
    assert style.pairs_per_unit == len(TAXONOMY)


def test_taxonomy_worked_example_passes_validation_with_the_plan_of_its_topic() -> None:
    style = PROMPT_STYLES["taxonomy"]
    pairs = parse_topic_output(style.example_output(), style, EXAMPLE_TOPIC)
    assert [p.ambiguity_type for p in pairs] == list(TAXONOMY)
    assert [p.register for p in pairs] == list(register_plan(EXAMPLE_TOPIC).values())
    assert not any(p.problem for p in pairs)  # every example pair is within 2 words
    assert all(abs(len(p.specific_query.split()) - len(p.ambiguous_query.split())) <= 2 for p in pairs)
    # keywords-register examples really are keywords (no question mark, lower case)
    for p in pairs:
        if p.register == "keywords":
            assert "?" not in p.specific_query and p.specific_query == p.specific_query.lower()
    assert "Registers: unresolved_reference=" in style.messages("Banking")[-1]["content"]


def test_register_plan_is_balanced_over_the_topics() -> None:
    counts = Counter(r for t in load_topics() for r in register_plan(t).values())
    assert set(counts) == set(REGISTERS)
    assert max(counts.values()) - min(counts.values()) <= 0.15 * max(counts.values())
    assert register_plan("Banking") == register_plan("Banking")


def test_taxonomy_pair_too_far_apart_in_length_is_dropped_not_the_topic() -> None:
    style = PROMPT_STYLES["taxonomy"]
    answer = json.loads("{" + style.example_output()[1:])
    answer["missing_place"]["ambiguous_query"] = "Sunset?"
    pairs = parse_topic_output(json.dumps(answer), style, EXAMPLE_TOPIC)
    bad = [p for p in pairs if p.problem]
    assert [p.ambiguity_type for p in bad] == ["missing_place"]
    assert bad[0].problem.startswith("length_mismatch")


def test_real_seeded_rejects_an_added_year_and_carries_several_worked_examples() -> None:
    style = PROMPT_STYLES["real_seeded"]
    seed = "who won the world cup"
    messages = style.messages(seed)
    assert sum(m["role"] == "assistant" for m in messages) >= 3  # several worked examples
    assert messages[-1]["content"] == f'Question: "{seed}"'
    ok = {"specific_query": "who won the first fifa world cup", "ambiguous_query": "who won a world cup",
          "ambiguity_type": "shared_name", "missing_information": "Which one?"}
    (pair,) = parse_topic_output(json.dumps(ok), style, seed)
    assert not pair.problem and pair.topic == seed
    year = dict(ok, specific_query="who won the fifa world cup in 2014")
    with pytest.raises(OutputRejected, match="added_year"):  # its only pair is unusable: the seed is asked again
        parse_topic_output(json.dumps(year), style, seed)
    # a year the seed already has is fine
    (pair,) = parse_topic_output(json.dumps(year), style, "who won the world cup in 2014")
    assert not pair.problem


# ------------------------------------------------------------------------------------- counterfactual

@pytest.mark.parametrize(("edit", "query", "expected"), [
    ("drop_time", "Who won the Nobel Prize in Literature in 2016?", "Who won the Nobel Prize in Literature?"),
    ("drop_time", "What are the best phones this year?", "What are the best phones?"),
    ("drop_time", "How do I bake bread?", None),
    ("entity_to_pronoun", "How tall is the Eiffel Tower?", "How tall is that one?"),
    ("drop_constraint", "Recommend a beginner telescope under $300", "Recommend a beginner telescope"),
    ("drop_constraint", "Bake bread", None),
    ("bare_noun", "What are the side effects of ibuprofen?", "side effects"),
])
def test_counterfactual_edits(edit: str, query: str, expected: str | None) -> None:
    assert counterfactual.EDITS[edit](query) == expected


def test_counterfactual_pairs_balance_types_and_use_each_query_once() -> None:
    frame = pd.DataFrame({
        "topic": ["t"] * 6,
        "initial_request": ["Who won the Nobel Prize in Literature in 2016?", "Vague?",
                            "Who won the Nobel Prize in Literature in 2016?", "Vague 2?",
                            "Recommend a beginner telescope under $300 for planets in 2024", "Vague 3?"],
        "binary_label": [0, 1, 0, 1, 0, 1]})
    pairs = counterfactual.counterfactual_pairs([("s", frame)])
    assert len(pairs) == 2  # the repeated specific query is used once
    assert len({p.edit_type for p in pairs}) == 2  # the rarest usable type is taken first
    assert all(p.ambiguous != p.specific for p in pairs)


def test_random_deletion_control_deletes_as_many_words_as_the_edit() -> None:
    frame = pd.DataFrame({
        "topic": ["a", "a", "b", "b"], "pair_id": ["p1", "p1", "p2", "p2"], "binary_label": [0, 1, 0, 1],
        "initial_request": ["one two three four five six", "one two three", "alpha beta gamma delta",
                            "alpha beta gamma delta epsilon"],
        "ambiguity_type": ["", "drop_time", "", "x"]})
    control = counterfactual.control_frame(frame, seed=3)
    amb = control[control["binary_label"] == 1].set_index("pair_id")["initial_request"]
    assert len(amb["p1"].split()) == 3  # lost 3 words, like its edit
    assert len(amb["p2"].split()) == 3  # a longer ambiguous query still costs at least one word
    assert set(amb["p1"].split()) <= set("one two three four five six".split())
    assert (control.loc[control["binary_label"] == 1, "ambiguity_type"] == "random_deletion").all()
    again = counterfactual.control_frame(frame, seed=3)
    pd.testing.assert_frame_equal(control, again)  # seeded


def test_strategy_sets_are_written_with_provenance_and_load_by_name(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMBIG_DATA_DIR", str(tmp_path))
    tsv = strategies.build_counterfactual(sources=["seed/gpt-4.1"])
    assert tsv.parent == teacher_sets.strategy_dir()
    loaded = teacher_sets.load_teacher_set("strategy/rules_counterfactual")
    assert Counter(loaded["binary_label"]) [0] == Counter(loaded["binary_label"])[1] > 300
    provenance = json.loads(tsv.with_name("rules_counterfactual_balanced_strict.provenance.json").read_text())
    assert provenance["sources"] == ["seed/gpt-4.1"] and provenance["files"]["tsv_sha256"]
    assert set(provenance["types"]) == set(counterfactual.EDIT_TYPES)
    control = strategies.build_control("strategy/rules_counterfactual")
    assert control.name == "rules_counterfactual-control_balanced_strict.tsv"
    assert set(teacher_sets.resolve_teacher_sets("strategies")) == {
        "strategy/rules_counterfactual", "strategy/rules_counterfactual-control"}
    # the strategies never enter the trained study
    assert not any(n.startswith("strategy/") for n in teacher_sets.resolve_teacher_sets("study"))


# ----------------------------------------------------------------------------------------- data layer

def test_clamber_headline_icl_and_subclasses(mirror: Path) -> None:
    headline = data.load_clamber()
    assert len(headline) == 1200 and int(headline["binary_label"].sum()) == 600
    assert set(headline["subclass"]) == set(data.CLAMBER_HEADLINE_SUBCLASSES)
    assert not headline["initial_request"].str.contains("\n").any()
    icl = data.load_eval_set("clamber_icl")
    assert len(icl) == 400 and set(icl["subclass"]) == {"ICL"}
    assert "MC" not in set(data.load_clamber(None)["category"])


def test_zefcnp_sets_load_as_teacher_sets(mirror: Path) -> None:
    for name in teacher_sets.EXTERNAL_SETS:
        frame = teacher_sets.load_teacher_set(name)
        assert len(frame) == 5000 and Counter(frame["binary_label"]) == {0: 2500, 1: 2500}
        assert frame["topic"].nunique() == 5000  # no topics: each row its own group
    assert teacher_sets.resolve_teacher_sets("zefcnp") == list(teacher_sets.EXTERNAL_SETS)


def test_dev_slice_and_real_seeds_are_disjoint_and_never_evaluation_texts(mirror: Path) -> None:
    dev = data.load_ambignq_dev_slice()
    assert len(dev) == data.AMBIGNQ_DEV_SLICE_SIZE and set(dev["binary_label"]) == {0, 1}
    assert dev.equals(data.load_ambignq_dev_slice())  # fixed
    blocked = data.evaluation_texts()
    seeds = generation_units("real_seeded", limit=300)
    assert len(seeds) == 300 and len({s.casefold() for s in seeds}) == 300
    assert not {s.casefold() for s in seeds} & {t.casefold() for t in dev["initial_request"]}
    assert not {s.casefold() for s in seeds} & blocked
    assert generation_units("real_seeded", limit=100) == seeds[:100]  # a larger run extends a smaller one


# ---------------------------------------------------------------------------------------------- metric

def test_length_controlled_auc_sees_through_length() -> None:
    texts = ["a b", "a b", "a b c", "a b c", "a", "a b c d"]
    y = np.array([1, 0, 1, 0, 1, 0])
    by_length = np.array([len(t.split()) for t in texts], dtype=float)
    assert length_controlled_roc_auc(texts, y, -by_length)["auc"] == pytest.approx(0.5)  # ties within bins
    perfect = y.astype(float)
    result = length_controlled_roc_auc(texts, y, perfect)
    assert result["auc"] == pytest.approx(1.0) and result["coverage"] == pytest.approx(4 / 6)
    wrong = 1.0 - perfect
    assert length_controlled_roc_auc(texts, y, wrong)["auc"] == pytest.approx(0.0)


# ----------------------------------------------------------------------------------------- frozen probe

def test_frozen_probe_writes_reuses_and_scores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               isolated_cache: Path, tiny_distilbert: Path) -> None:
    from ambig_lib.evaluation import transfer

    monkeypatch.setenv("AMBIG_RUNS_DIR", str(tmp_path / "runs"))
    rng = np.random.default_rng(0)
    words = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta"]
    rows = []
    for i in range(40):
        spec = " ".join(rng.choice(words, size=6))
        rows += [(f"t{i % 8}", spec, 0, f"p{i}"), (f"t{i % 8}", " ".join(spec.split()[:3]) + " it", 1, f"p{i}")]
    train = pd.DataFrame(rows, columns=["topic", "initial_request", "binary_label", "pair_id"])
    train["user_information_need"] = ""
    path = tmp_path / "toy_balanced_strict.tsv"
    path.write_text(train.to_csv(sep="\t", index=False), encoding="utf-8")
    bench = {"clariq": pd.DataFrame({"initial_request": ["alpha beta gamma delta", "alpha it", "beta gamma it",
                                                         "omega sigma kappa theta"],
                                     "binary_label": [0, 1, 1, 0]}),
             "ambignq_train_dev": pd.DataFrame({"initial_request": ["kappa it", "kappa theta alpha beta"],
                                                "binary_label": [1, 0]})}
    config = transfer.ProbeConfig(encoder=str(tiny_distilbert), n_resamples=20, max_rows=None, folds=4)
    predictions, record = transfer.probe_training_set(str(path), bench, config, progress=False)
    assert set(predictions["benchmark"]) == set(bench) and len(predictions) == 6
    assert record["grouped_by"] == "pair_id" and record["c"] in transfer.C_GRID
    assert 0.0 <= record["cv_roc_auc"] <= 1.0
    summary = transfer.probe_dir(config.encoder, str(path)) / "summary.json"
    first = summary.read_text()

    def no_embedding(*args, **kwargs):
        raise AssertionError("an unchanged probe must be reused, not refitted")

    monkeypatch.setattr(transfer, "embed", no_embedding)
    again, _ = transfer.probe_training_set(str(path), bench, config, progress=False)
    pd.testing.assert_frame_equal(predictions, again)
    assert summary.read_text() == first
    train.loc[0, "initial_request"] = "a changed specific query here"
    path.write_text(train.to_csv(sep="\t", index=False), encoding="utf-8")
    with pytest.raises(AssertionError, match="must be reused"):  # changed rows: refitted
        transfer.probe_training_set(str(path), bench, config, progress=False)

    scored = pd.DataFrame(transfer.score_predictions("toy", predictions, "tiny", n_resamples=20))
    assert set(scored["method"]) == {"probe_tiny", "length_only"}
    length_row = scored[(scored["method"] == "length_only") & (scored["benchmark"] == "clariq")].iloc[0]
    # the length-only control ranks the toy benchmark by length alone: short = ambiguous, so it is perfect
    assert length_row["roc_auc"] == pytest.approx(1.0)
    assert np.isnan(length_row["lc_roc_auc"])  # no two queries of one length with both labels


def test_taxonomy_pair_equal_to_its_specific_query_costs_the_pair_only() -> None:
    style = PROMPT_STYLES["taxonomy"]
    answer = json.loads(style.example_output())
    answer["shared_name"]["ambiguous_query"] = answer["shared_name"]["specific_query"]
    pairs = parse_topic_output(json.dumps(answer), style, EXAMPLE_TOPIC)
    assert [p.ambiguity_type for p in pairs if p.problem] == ["shared_name"]
    assert pairs[4].problem.startswith("ambiguous_equals_specific")


def test_random_deletion_never_leaves_an_empty_query() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        out = counterfactual.random_deletion("for ? !", 2, rng)
        assert out.strip() and any(ch.isalnum() for ch in out)
    assert counterfactual.random_deletion("single", 3, rng) == "single"


def test_transfer_findings_choose_by_the_dev_slice_and_compare_with_the_control() -> None:
    from ambig_lib.study import findings

    def row(name: str, dev: float, mean: float) -> dict[str, object]:
        out: dict[str, object] = {"train_set": name, "method": "probe_minilm", "student": "probe minilm",
                                  "dev roc_auc": dev, "mean_3 roc_auc": mean, "mean_3 length_only": 0.55}
        for bench in ("clariq", "ambignq", "clamber"):
            out.update({f"{bench} roc_auc": mean, f"{bench} length_only": 0.55, f"{bench} lc_roc_auc": 0.5})
        return out

    wide = pd.DataFrame([row("seed/gpt-4.1", 0.52, 0.70), row("strategy/x", 0.60, 0.58),
                         row("strategy/x-control", 0.99, 0.61)])
    text = findings.transfer_findings(wide).text
    assert "strategy/x" in text.split(".")[0] or "strategy/x" in text  # chosen by dev, the control never chosen
    assert "**strategy/x**" in findings.transfer_findings(wide).sentences[0]
    assert "no more than deleting" in text and "-0.030" in text
    resampled = pd.DataFrame([row("strategy/length_resampled", 0.5, 0.60),
                              row("strategy/length_resampled-control", 0.5, 0.55)])
    sentence = findings.transfer_findings(resampled).sentences[-1]
    assert sentence.endswith("against 0.550 for its random-draw control (+0.050): it teaches more than the same "
                             "rows drawn with their length cue.")
    assert "Targets missed: clariq ROC-AUC 0.580 < 0.85" in text  # read on the pick, once
    assert "clamber length-controlled 0.500 < 0.60" in text
