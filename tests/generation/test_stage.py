"""Generation stage without a model: validation, retries, failures file, dedup, balance, topics, prompts.

These tests use ``ScriptedTeacher``, a Teacher that returns canned texts. That is deliberate and limited to
what a real model cannot be made to produce on demand: specific kinds of bad output (invalid JSON, 4 intents,
an empty query, a cut-off answer) and exact duplicates across topics. Everything downstream of the teacher
(the real CachedTeacher, validation, dedup, TSV writing, the real set loader) runs unchanged. The real model
runs end to end in ``test_generation_llamacpp.py``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ambig_lib.core.text import normalise
from ambig_lib.data.teacher_sets import load_teacher_set
from ambig_lib.generation.filters import drop_exact_duplicates, drop_near_duplicates
from ambig_lib.generation.parsing import IntentPair, OutputRejected, parse_topic_output, replace_detail
from ambig_lib.generation.prompts import AMBIGUITY_TYPES, EXAMPLE_TOPIC, PROMPT_STYLES, get_prompt_style
from ambig_lib.generation.stage import (
    EmptySetError,
    GenerationConfig,
    GenerationError,
    generate_set,
    output_paths,
)
from ambig_lib.generation.topics import TopicsError, load_topics, parse_topics
from ambig_lib.teachers.base import ChatRequest, ChatResponse

SEED = get_prompt_style("seed")
LENGTH_MATCHED = get_prompt_style("length_matched")


WORDS = {  # distinct vocabulary per topic, so that canned queries of two topics are not near duplicates
    "Banking": [("open", "savings account", "Berlin"), ("compare", "overdraft fees", "Paris"),
                ("close", "credit card", "Rome"), ("report", "card fraud", "Oslo"),
                ("transfer", "pension funds", "Lima")],
    "Health": [("book", "flu vaccine", "Dublin"), ("renew", "asthma prescription", "Madrid"),
               ("cancel", "dental checkup", "Vienna"), ("get", "blood test results", "Prague"),
               ("find", "physiotherapy sessions", "Quito")],
}


def seed_answer(topic: str, n: int = 5, **override: str) -> str:
    """A valid ``seed`` answer for ``topic`` with ``n`` intents; ``override`` replaces fields of intent 1."""
    words = WORDS.get(topic, WORDS["Banking"])
    items = [{"intent": f"{topic} {verb} {thing}",
              "specific_query": f"How do I {verb} my {thing} at the {city} office?",
              "ambiguous_query": f"Can I {verb} {thing} there?",
              "user_information_need": f"Learn how to {verb} a {thing} in {city}."}
             for verb, thing, city in words[:n]]
    items[0].update(override)
    return json.dumps({"intents": items})


class ScriptedTeacher:
    """Returns the canned answers ``script[(topic, sample_index)] = (text, finish_reason)``; counts calls."""

    name = "scripted"

    def __init__(self, script: dict[tuple[str, int], tuple[str, str]]) -> None:
        self.script = script
        self.calls: list[tuple[str, int]] = []

    def identity(self) -> dict[str, Any]:
        return {"backend": "scripted", "model": "canned-v1"}

    def complete(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        out = []
        for request in requests:
            topic = request.messages[-1]["content"].split('"')[1]
            self.calls.append((topic, request.sample_index))
            text, finish = self.script[(topic, request.sample_index)]
            out.append(ChatResponse(text=text, finish_reason=finish, prompt_tokens=100,
                                    completion_tokens=len(text) // 4))
        return out


def config(topics: Sequence[str], **kw: Any) -> GenerationConfig:
    return GenerationConfig(teacher="scripted", prompt=kw.pop("prompt", "seed"), topics=tuple(topics), **kw)


def test_bad_outputs_are_retried_with_new_samples_and_kept_in_failures(tmp_path: Path) -> None:
    good = seed_answer("Banking")
    bad = {
        0: ('{"intents": [{"intent": "x", "specific_query": ', "stop"),   # invalid JSON
        1: (seed_answer("Banking", n=4), "stop"),                         # 4 intents
        2: (seed_answer("Banking", ambiguous_query="   "), "stop"),      # empty query
        3: (good[: len(good) // 2], "length"),                            # cut off at max_tokens
    }
    script = {("Banking", i): answer for i, answer in bad.items()}
    script[("Banking", 4)] = (good, "stop")
    teacher = ScriptedTeacher(script)
    result = generate_set(teacher, config(["Banking"], max_attempts=5), out_dir=tmp_path, progress=False)

    assert teacher.calls == [("Banking", i) for i in range(5)]
    reasons = [(f["sample_index"], f["reason"]) for f in result.failures]
    assert reasons == [(0, "invalid_json"), (1, "wrong_count"), (2, "empty_field"), (3, "truncated")]
    on_disk = [json.loads(line) for line in result.failures_path.read_text().splitlines()]
    assert [f["raw"] for f in on_disk] == [bad[i][0] for i in range(4)]
    assert set(result.frame["sample_index"]) == {4}
    c = result.counts
    assert (c["attempts"], c["attempts_valid"], c["attempts_failed"]) == (5, 1, 4)
    assert (c["rows_requested"], c["rows_valid"], c["rows_written"]) == (10, 10, 10)
    assert c["topics_gave_up"] == 0 and result.provenance["topics_not_5_of_5"] == {}


def test_topic_that_never_validates_is_reported_not_dropped_silently(tmp_path: Path) -> None:
    script = {("Banking", 0): (seed_answer("Banking"), "stop")}
    script.update({("Health", i): ("not json at all", "stop") for i in range(3)})
    result = generate_set(ScriptedTeacher(script), config(["Banking", "Health"], max_attempts=3),
                          out_dir=tmp_path, progress=False)
    assert result.provenance["topics_gave_up"] == ["Health"]
    assert result.provenance["topics_not_5_of_5"] == {"Health": 0}
    assert [f["stage"] for f in result.failures] == ["validation"] * 3 + ["gave_up"]
    assert set(result.frame["topic"]) == {"Banking"}
    assert result.counts["rows_requested"] == 20 and result.counts["rows_written"] == 10


def test_set_without_any_valid_topic_is_refused_not_written_empty(tmp_path: Path) -> None:
    script = {(t, i): ("not json at all", "stop") for t in ("Banking", "Health") for i in range(2)}
    cfg = config(["Banking", "Health"], max_attempts=2)
    stale = _committed_set(tmp_path, cfg)["tsv"]  # an older run with the same settings
    stale.write_text("topic\tinitial_request\tbinary_label\n")  # left a header-only file
    with pytest.raises(EmptySetError, match=r"no topic of 2 gave a valid answer in 2 attempts.*failures\.jsonl"):
        generate_set(ScriptedTeacher(script), cfg, out_dir=tmp_path, progress=False)
    assert not stale.exists()  # "teacher_sets='all'" must never find an empty set
    files = output_paths(cfg, tmp_path)
    failures = [json.loads(line) for line in files["failures"].read_text().splitlines()]
    assert [f["stage"] for f in failures] == ["validation"] * 4 + ["gave_up"] * 2
    prov = json.loads(files["provenance"].read_text())
    assert prov["counts"]["rows_written"] == 0 and prov["files"]["tsv"] is None


def test_duplicates_drop_whole_pairs_and_keep_labels_balanced(tmp_path: Path) -> None:
    banking = json.loads(seed_answer("Banking"))
    health = json.loads(seed_answer("Health"))
    # exact duplicate up to case and punctuation of a Banking query; a near duplicate of another one
    health["intents"][1]["ambiguous_query"] = banking["intents"][2]["specific_query"].upper().rstrip("?") + "!!"
    health["intents"][3]["specific_query"] = banking["intents"][4]["specific_query"].replace("office", "main office")
    script = {("Banking", 0): (json.dumps(banking), "stop"), ("Health", 0): (json.dumps(health), "stop")}
    result = generate_set(ScriptedTeacher(script), config(["Banking", "Health"]), out_dir=tmp_path,
                          progress=False)
    c = result.counts
    assert (c["rows_valid"], c["rows_after_exact_dedup"], c["rows_after_near_dedup"], c["rows_written"]) == \
        (20, 18, 16, 16)
    assert (c["pairs_removed_exact_duplicate"], c["pairs_removed_near_duplicate"]) == (1, 1)
    assert result.provenance["topics_not_5_of_5"] == {"Health": 3}
    assert sorted(result.frame.query("topic == 'Health'")["pair_id"].unique()) == \
        ["Health:0", "Health:2", "Health:4"]
    per_topic = result.frame.groupby("topic")["binary_label"].agg(["sum", "count"])
    assert (per_topic["count"] == 2 * per_topic["sum"]).all()  # as many 1s as 0s in every topic
    stages = [f["stage"] for f in result.failures]
    assert stages == ["exact_duplicate", "near_duplicate"]


def test_pairs_with_a_string_of_questions_are_dropped_whole(tmp_path: Path) -> None:
    banking = json.loads(seed_answer("Banking"))
    banking["intents"][1]["ambiguous_query"] = "Can I compare them? What about fees?"  # two questions
    banking["intents"][3]["specific_query"] = "How do I report card fraud in Oslo? Is it urgent?"
    script = {("Banking", 0): (json.dumps(banking), "stop")}
    result = generate_set(ScriptedTeacher(script), config(["Banking"]), out_dir=tmp_path, progress=False)
    c = result.counts
    assert (c["rows_valid"], c["rows_after_single_question_filter"], c["rows_written"]) == (10, 6, 6)
    assert c["pairs_removed_multi_question"] == 2
    assert sorted(result.frame["pair_id"].unique()) == ["Banking:0", "Banking:2", "Banking:4"]
    assert [(f["stage"], f["query"]) for f in result.failures] == [
        ("multi_question", "Can I compare them? What about fees?"),
        ("multi_question", "How do I report card fraud in Oslo? Is it urgent?")]
    assert (result.frame["initial_request"].str.count(r"\?") <= 1).all()


def test_written_set_is_accepted_by_the_teacher_set_loader(tmp_path: Path) -> None:
    text = seed_answer("Banking", specific_query='What does "APR" mean on my\tChase credit card statement?')
    result = generate_set(ScriptedTeacher({("Banking", 0): (text, "stop")}), config(["Banking"]),
                          out_dir=tmp_path, progress=False)
    assert result.tsv_path.parent.name == "variants" and result.tsv_path.name.startswith("scripted_seed_topics1-")
    loaded = load_teacher_set(result.tsv_path)
    assert len(loaded) == 10 and loaded["binary_label"].tolist() == [0, 1] * 5
    assert loaded["initial_request"].iloc[0] == 'What does "APR" mean on my Chase credit card statement?'
    assert {"intent", "ambiguity_type", "pair_id"} <= set(loaded.columns)
    prov = json.loads(result.provenance_path.read_text())
    assert prov["prompt"]["hash"] == SEED.prompt_hash()
    assert prov["teacher"] == {"backend": "scripted", "model": "canned-v1"}
    assert prov["tokens"]["prompt"] == 100
    assert prov["this_run"]["model_calls"] == 1


@pytest.mark.parametrize(("items", "reason"), [
    ('{"items": []}', "wrong_schema"),
    ([{"intent": "a"}] * 5, "wrong_schema"),
    ("same_query", "ambiguous_equals_specific"),
    ("dup_intent", "duplicate_intent"),
    ("dup_query", "duplicate_query"),
])
def test_parse_topic_output_rejections(items: Any, reason: str) -> None:
    data = json.loads(seed_answer("Art"))["intents"]
    if items == "same_query":
        data[2]["ambiguous_query"] = data[2]["specific_query"].lower() + " "
    elif items == "dup_intent":
        data[3]["intent"] = data[1]["intent"].upper()
    elif items == "dup_query":
        data[3]["ambiguous_query"] = data[1]["ambiguous_query"]
    elif isinstance(items, list):
        data = items
    text = items if isinstance(items, str) and items.startswith("{") else json.dumps({"intents": data})
    with pytest.raises(OutputRejected) as caught:
        parse_topic_output(text, SEED, "Art")
    assert caught.value.reason == reason


def lm_items(**override: str) -> list[dict[str, str]]:
    """Five valid, mutually distinct length_matched intents; ``override`` replaces fields of intent 1."""
    rows = [("Berlin", "Which art museums in Berlin are open on Mondays?", "that city"),
            ("Picasso", "Where can I see paintings by Picasso in Spain?", "that painter"),
            ("2026", "When does the Venice Biennale open in 2026?", "next time"),
            ("my niece", "Which pottery classes suit my niece on weekends?", "her"),
            ("oil paint", "How long does oil paint take to dry on canvas?", "it")]
    items = [{"intent": f"intent {i}", "user_information_need": f"need {i}", "specific_query": query,
              "ambiguity_type": "missing_what", "detail": detail, "vague_replacement": vague}
             for i, (detail, query, vague) in enumerate(rows)]
    items[0].update(override)
    return items


def test_length_matched_builds_the_ambiguous_query_by_one_replacement() -> None:
    pairs = parse_topic_output(json.dumps({"intents": lm_items()}), LENGTH_MATCHED, "Art")
    assert pairs[0].ambiguous_query == "Which art museums in that city are open on Mondays?"
    assert pairs[0].specific_query == "Which art museums in Berlin are open on Mondays?"
    assert pairs[3].ambiguous_query == "Which pottery classes suit her on weekends?"


def test_length_matched_rejects_an_unknown_ambiguity_type_for_the_whole_topic() -> None:
    with pytest.raises(OutputRejected) as caught:
        parse_topic_output(json.dumps({"intents": lm_items(ambiguity_type="vague")}), LENGTH_MATCHED, "Art")
    assert caught.value.reason == "bad_enum" and "intent 1" in str(caught.value)


@pytest.mark.parametrize(("override", "reason"), [
    ({"detail": "Munich"}, "detail_not_in_query"),
    ({"detail": "Ber"}, "detail_not_in_query"),               # whole words only
    ({"vague_replacement": "berlin"}, "replacement_equals_detail"),
    ({"vague_replacement": "Berlin, the German capital"}, "replacement_contains_detail"),
    ({"vague_replacement": "that city you are thinking of"}, "replacement_too_long"),
])
def test_a_bad_replacement_costs_only_its_pair(override: dict[str, str], reason: str) -> None:
    pairs = parse_topic_output(json.dumps({"intents": lm_items(**override)}), LENGTH_MATCHED, "Art")
    assert pairs[0].problem.startswith(reason) and pairs[0].ambiguous_query == ""
    assert all(not p.problem and p.ambiguous_query for p in pairs[1:])


def test_a_topic_without_any_buildable_pair_is_retried(tmp_path: Path) -> None:
    items = [dict(item, detail="Munich") for item in lm_items()]
    with pytest.raises(OutputRejected) as caught:
        parse_topic_output(json.dumps({"intents": items}), LENGTH_MATCHED, "Art")
    assert caught.value.reason == "no_usable_pair"
    one_bad = {("Art", 0): (json.dumps({"intents": lm_items(detail="Munich")}), "stop")}
    result = generate_set(ScriptedTeacher(one_bad), config(["Art"], prompt="length_matched"), out_dir=tmp_path,
                          progress=False)
    c = result.counts
    assert (c["rows_valid"], c["rows_after_replacement_check"], c["rows_written"]) == (10, 8, 8)
    assert c["pairs_removed_bad_replacement"] == 1
    assert [f["stage"] for f in result.failures] == ["bad_replacement"]
    assert result.failures[0]["reason"].startswith("detail_not_in_query")


def test_replace_detail_keeps_case_and_punctuation_tidy() -> None:
    assert replace_detail("Is the Celestron NexStar 6SE good for galaxies?", "celestron nexstar 6se",
                          "Polaris K-7") == "Is the Polaris K-7 good for galaxies?"
    assert replace_detail("Saturn rises when?", "Saturn", "that planet") == "That planet rises when?"
    with pytest.raises(OutputRejected, match="empty"):
        replace_detail("Where do I vote in Denver?", "Denver", " ")
    assert replace_detail("Where do I vote in Denver, Colorado?", '"Denver, Colorado"', "my town") == \
        "Where do I vote in my town?"
    # the replacement's own determiner replaces the one before the detail
    assert replace_detail("What are the requirements to join the Democratic Party?", "Democratic Party",
                          "that party") == "What are the requirements to join that party?"
    assert replace_detail("What foods trigger my allergies?", "allergies", "the condition") == \
        "What foods trigger the condition?"
    assert replace_detail("Which museums in Berlin are open?", "Berlin", "there") == "Which museums in there are open?"


def test_normalisation_and_dedup_units() -> None:
    assert normalise("  What's the RATE?! ") == normalise("what s the rate")
    p = [IntentPair("T", i, f"i{i}", s, a, "n") for i, (s, a) in enumerate([
        ("How do I open a savings account online?", "How do I open one?"),
        ("How do I open a savings account?", "Where is the branch?"),        # near (Jaccard 7/8)
        ("What are savings account fees at Chase?", "What are the fees?"),    # different enough
    ])]
    assert [x.index for x in drop_exact_duplicates(p).kept] == [0, 1, 2]
    near = drop_near_duplicates(p, threshold=0.8)
    assert [x.index for x in near.kept] == [0, 2]
    assert near.removed[0]["jaccard"] == pytest.approx(7 / 8)
    assert [x.index for x in drop_near_duplicates(p, threshold=0.9).kept] == [0, 1, 2]


def test_packaged_topics() -> None:
    topics = load_topics()
    assert len(topics) >= 100 and len({t.casefold() for t in topics}) == len(topics)
    assert topics[:3] == ["Activism", "Aging", "Allergies"] and "Banking" in topics
    assert load_topics(limit=4) == topics[:4]
    assert EXAMPLE_TOPIC not in topics  # the worked example must not be a topic we generate for
    with pytest.raises(TopicsError, match="line 3.*repeats line 1"):
        parse_topics("Banking\n# comment\nbanking\n", "t.txt")
    with pytest.raises(TopicsError, match="limit"):
        load_topics(limit=0)


@pytest.mark.parametrize("name", sorted(n for n, s in PROMPT_STYLES.items() if s.layout == "intents"))
def test_prompt_worked_example_passes_our_own_validation(name: str) -> None:
    style = PROMPT_STYLES[name]
    pairs = parse_topic_output(style.example_output(), style, EXAMPLE_TOPIC)
    assert len(pairs) == 5
    schema = style.json_schema()["properties"]["intents"]
    assert (schema["minItems"], schema["maxItems"]) == (5, 5)
    messages = style.messages("Banking")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[-1]["content"] == 'Write the 5 intents for the topic "Banking".'
    if name == "length_matched":  # the built ambiguous queries are the ones written in the example
        assert [p.ambiguous_query for p in pairs] == [i["ambiguous_query"] for i in style.example_intents]
        assert all(abs(len(p.specific_query.split()) - len(p.ambiguous_query.split())) <= 2 for p in pairs)
        assert {p.ambiguity_type for p in pairs} <= set(AMBIGUITY_TYPES)
        assert len({p.ambiguity_type for p in pairs}) == 5


def test_prompt_hashes_differ_and_are_stable() -> None:
    assert PROMPT_STYLES["seed"].prompt_hash() != PROMPT_STYLES["length_matched"].prompt_hash()
    assert PROMPT_STYLES["seed"].prompt_hash() == get_prompt_style("seed").prompt_hash()


def test_config_errors_are_clear() -> None:
    with pytest.raises(GenerationError, match="topics is empty"):
        GenerationConfig(teacher="t", topics=())
    with pytest.raises(Exception, match="Unknown prompt style 'fancy'"):
        GenerationConfig(teacher="t", prompt="fancy", topics=("A",))
    assert GenerationConfig.for_teacher("org/Model 7B", "length_matched", load_topics()).stem == \
        "org-Model-7B_length_matched_balanced_strict"
    full = GenerationConfig.for_teacher("qwen2.5-coder-1.5b", "seed", load_topics())
    dotted = output_paths(full, Path("d"))
    assert {k: p.name for k, p in dotted.items()} == {
        "tsv": "qwen2.5-coder-1.5b_seed_balanced_strict.tsv",
        "provenance": "qwen2.5-coder-1.5b_seed_balanced_strict.provenance.json",
        "failures": "qwen2.5-coder-1.5b_seed_balanced_strict.failures.jsonl",
        "cache": "qwen2.5-coder-1.5b_seed_balanced_strict.cache.jsonl"}
    assert dotted["tsv"].parent == Path("d")


def test_the_name_of_a_set_says_what_changes_its_content() -> None:
    """A --limit, another seed or sampling gives another name, in variants/, with the full set's cache."""
    def stem(**kw: Any) -> str:
        return GenerationConfig.for_teacher("qwen2.5-coder-1.5b", "seed", load_topics(kw.pop("limit", None)),
                                            **kw).stem

    assert stem(limit=3) == "qwen2.5-coder-1.5b_seed_topics3_balanced_strict"
    assert stem(seed=1, temperature=0.5, top_p=0.9, max_tokens=512, max_attempts=2,
                near_duplicate_threshold=0.9) == \
        "qwen2.5-coder-1.5b_seed_seed1_temp0.5_topp0.9_maxtok512_attempts2_neardup0.9_balanced_strict"
    assert stem(batch_size=8) == "qwen2.5-coder-1.5b_seed_balanced_strict"  # how requests are sent: no tag
    other = GenerationConfig.for_teacher("qwen2.5-coder-1.5b", "seed", ["Banking", "Health"])
    assert other.stem.startswith("qwen2.5-coder-1.5b_seed_topics2-") and len(other.variant_tags()[0]) == 16
    files = output_paths(GenerationConfig.for_teacher("qwen2.5-coder-1.5b", "seed", load_topics(3)), Path("d"))
    assert files["tsv"] == Path("d/variants/qwen2.5-coder-1.5b_seed_topics3_balanced_strict.tsv")
    assert files["cache"] == Path("d/qwen2.5-coder-1.5b_seed_balanced_strict.cache.jsonl")


def _committed_set(folder: Path, config: GenerationConfig, **provenance: Any) -> dict[str, Path]:
    """Files standing for a committed set written with ``config`` (provenance fields overridable)."""
    files = output_paths(config, folder)
    files["tsv"].parent.mkdir(parents=True, exist_ok=True)
    files["tsv"].write_text("committed set\n")
    files["failures"].write_text("committed failures\n")
    record = {"topics": list(config.topics), "sampling": config.sampling(), "max_attempts": config.max_attempts,
              "near_duplicate_threshold": config.near_duplicate_threshold,
              "prompt": {"hash": get_prompt_style(config.prompt).prompt_hash()}, **provenance}
    files["provenance"].write_text(json.dumps(record))
    return files


def test_a_partial_run_never_replaces_the_full_set(tmp_path: Path) -> None:
    full = GenerationConfig.for_teacher("qwen2.5-coder-1.5b", "seed", load_topics())
    committed = _committed_set(tmp_path, full)
    before = {k: p.read_bytes() for k, p in committed.items() if k != "cache"}
    partial = GenerationConfig.for_teacher("qwen2.5-coder-1.5b", "seed", load_topics(2))
    script = {(t, 0): (seed_answer(t), "stop") for t in partial.topics}
    result = generate_set(ScriptedTeacher(script), partial, out_dir=tmp_path, progress=False)
    assert {k: p.read_bytes() for k, p in committed.items() if k != "cache"} == before
    assert result.tsv_path == tmp_path / "variants" / "qwen2.5-coder-1.5b_seed_topics2_balanced_strict.tsv"
    assert result.cache_path == committed["cache"] and len(load_teacher_set(result.tsv_path)) > 0


def test_a_set_with_other_settings_is_replaced_only_with_force(tmp_path: Path) -> None:
    full = GenerationConfig.for_teacher("qwen2.5-coder-1.5b", "seed", load_topics(1))
    committed = _committed_set(tmp_path, full, max_attempts=3, prompt={"hash": "an older prompt"})
    script = {(t, 0): (seed_answer(t), "stop") for t in full.topics}
    with pytest.raises(GenerationError, match=r"was generated with other settings \(max_attempts: 3 there, 4 now; "
                                              r"prompt_hash: .*--force"):
        generate_set(ScriptedTeacher(script), full, out_dir=tmp_path, progress=False)
    assert committed["tsv"].read_text() == "committed set\n"
    same = _committed_set(tmp_path / "same", full)  # a re-run with the same settings rebuilds it
    assert generate_set(ScriptedTeacher(script), full, out_dir=tmp_path / "same", progress=False).tsv_path == same["tsv"]
    result = generate_set(ScriptedTeacher(script), full, out_dir=tmp_path, progress=False, force=True)
    assert result.tsv_path == committed["tsv"] and committed["tsv"].read_text() != "committed set\n"
