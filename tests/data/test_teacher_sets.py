"""The teacher-set loader: the six published sets as they really are, and clear errors for broken files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ambig_lib.core.errors import TeacherSetError
from ambig_lib.data.teacher_sets import PUBLISHED_SETS, load_teacher_set, parse_teacher_set, teacher_set_names

# rows, label 0, label 1 as documented in shared/README.md
EXPECTED = {
    "seed/llama-3.3-70b": (1000, 500, 500),
    "seed/gemma-3-27b": (1000, 500, 500),
    "seed/gpt-4.1": (1000, 500, 500),
    "seed/gpt-4.1-mini": (1000, 500, 500),
    "seed/gpt-4.1-nano": (999, 524, 475),
    "seed/llama-3.1-8b": (1000, 505, 495),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_published_sets_load_with_documented_counts(name: str) -> None:
    frame = load_teacher_set(name)
    rows, zeros, ones = EXPECTED[name]
    assert len(frame) == rows
    assert (frame["binary_label"] == 0).sum() == zeros and (frame["binary_label"] == 1).sum() == ones
    assert frame["binary_label"].dtype.kind == "i"
    assert frame["topic"].nunique() == 100
    assert not frame["initial_request"].str.contains("\r").any()


def test_registry_names() -> None:
    assert set(EXPECTED) == set(PUBLISHED_SETS)
    assert teacher_set_names(include_generated=False) == list(PUBLISHED_SETS)


def test_gemma_float_labels_are_normalised() -> None:
    raw = "topic\tinitial_request\tbinary_label\tuser_information_need\nA\tq one\t0.0\tn\nA\tq two\t1.0\tn\n"
    frame = parse_teacher_set(raw)
    assert frame["binary_label"].tolist() == [0, 1]


def test_topic_case_variants_are_merged() -> None:
    raw = ("topic\tinitial_request\tbinary_label\tuser_information_need\n"
           "Travel\ta\t0\tn\nTravel\tb\t1\tn\ntravel\tc\t0\tn\n")
    assert parse_teacher_set(raw)["topic"].tolist() == ["Travel"] * 3


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad_balanced_strict.tsv"
    path.write_text(text)
    return path


HEADER = "topic\tinitial_request\tbinary_label\tuser_information_need\n"


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("topic\tinitial_request\tuser_information_need\nA\tq\tn\n", r"line 1: missing column\(s\) binary_label"),
        (HEADER + "A\tq\t0\tn\nA\tr\t2\tn\n", r"line 3: binary_label is '2', not 0 or 1"),
        (HEADER + "A\tq\t0\tn\nA\t \t1\tn\n", r"line 3: empty initial_request"),
        ("topic,initial_request,binary_label,user_information_need\nA,q,0,n\n", r"line 1: header has no tab .*','"),
        (HEADER + "A\tq\t0\n", r"line 2: 3 fields, header has 4"),
        ("", r"the file is empty"),
        (HEADER, r"no data rows"),
    ],
)
def test_broken_files_name_file_and_line(tmp_path: Path, text: str, pattern: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(TeacherSetError, match=pattern) as info:
        load_teacher_set(path)
    assert str(path) in str(info.value)
    assert "Fix" in str(info.value)


def test_unknown_name() -> None:
    with pytest.raises(TeacherSetError, match="Unknown teacher set 'seed/gpt-5'"):
        load_teacher_set("seed/gpt-5")


HEADER = "topic\tinitial_request\tbinary_label\tuser_information_need\n"


def test_a_stray_quote_after_a_quoted_part_names_file_and_line() -> None:
    """``"Best" pizza`` used to raise a bare ``_csv.Error`` without file or line."""
    text = HEADER + "Food\tpizza near me\t1\tn\n" + 'Food\t"Best" pizza near me\t0\tn\n'
    with pytest.raises(TeacherSetError, match=r"^x\.tsv, line 3: badly quoted field .*Fix: .*quoted whole"):
        parse_teacher_set(text, source="x.tsv")


def test_an_unclosed_quote_cannot_swallow_the_next_rows() -> None:
    """An unbalanced quote used to merge the next three rows into one query, silently."""
    rows = ['Food\t"Best pizza near me\t0\tn', "Food\tpizza\t1\tn", "Art\tpaintings\t1\tn",
            'Art\tMonet or Manet"\t0\tn', "Art\tMonet\t1\tn"]
    with pytest.raises(TeacherSetError, match=r"^x\.tsv, line 2: a double quote opens a field that does not close "
                                              r"on that line \(read as one field up to line 5\)"):
        parse_teacher_set(HEADER + "\n".join(rows) + "\n", source="x.tsv")
    rows[3] = 'Art\tthe painting "Sunflowers"\t0\tn'  # the quote closes mid-field: a csv error, same message
    with pytest.raises(TeacherSetError, match=r"^x\.tsv, line 2: a double quote opens a field that does not close"):
        parse_teacher_set(HEADER + "\n".join(rows) + "\n", source="x.tsv")
    with pytest.raises(TeacherSetError, match=r"^x\.tsv, line 2: badly quoted field"):  # unclosed at the end
        parse_teacher_set(HEADER + 'Food\t"Best pizza\t0\tn\n', source="x.tsv")


def test_quoted_fields_are_read_as_csv_and_inner_quotes_kept() -> None:
    text = HEADER + 'Movies\t"Who directed ""Parasite""?"\t0\tn\n' + "Movies\tWho directed it?\t1\ta \"b\" c\n"
    frame = parse_teacher_set(text)
    assert frame["initial_request"].tolist() == ['Who directed "Parasite"?', "Who directed it?"]
    assert frame["user_information_need"].tolist() == ["n", 'a "b" c']  # a quote inside a field is literal
