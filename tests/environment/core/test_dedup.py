from environment.core.dedup import TableIndex, drop_near_duplicate_questions, shingles

TABLE = "Region City Q1 Q2 North Oslo 12.5 14.1 Bergen 8.0 9.3 South Rome 7 8 Milan 6 9"


def test_near_identical_tables_are_found_and_others_are_not() -> None:
    index = TableIndex(threshold=0.8)
    index.add("t1", TABLE)
    assert index.duplicate_of(TABLE.replace("Milan 6 9", "Milan 6 10")) is not None
    found = index.duplicate_of(TABLE)
    assert found is not None and found[0] == "t1" and found[1] == 1.0
    assert index.duplicate_of("Team Wins Goals Falcons 12 40 Comets 7 52 Wolves 9 31") is None
    assert TableIndex(threshold=1.0).duplicate_of(TABLE) is None  # 1.0 turns it off
    assert index.duplicate_of(TABLE, "t1") is None  # never a duplicate of itself


def test_near_duplicate_questions_keep_the_first() -> None:
    questions = [
        "What is the total Revenue (M$) over all rows?",
        "What is the total revenue (M$) over all rows ?",
        "Which region has the highest Q2 value?",
    ]
    assert drop_near_duplicate_questions(questions, 0.95) == [0, 2]
    assert drop_near_duplicate_questions(questions, 1.0) == [0, 1, 2]


def jaccard(a: str, b: str) -> float:
    return len(shingles(a) & shingles(b)) / len(shingles(a) | shingles(b))


def test_similarity_is_the_exact_jaccard_of_word_shingles_and_the_closest_wins() -> None:
    index = TableIndex(threshold=0.3)
    farther = TABLE.replace("Milan 6 9", "Turin 5 4").replace("Rome 7 8", "Bari 3 2")
    closer = TABLE.replace("Oslo", "Tromsø")
    assert jaccard(TABLE, farther) < jaccard(TABLE, closer)
    index.add("t1", farther)
    index.add("t2", closer)
    assert index.duplicate_of(TABLE) == ("t2", jaccard(TABLE, closer))
    index.add("t2", "something else entirely")  # indexed again on resume: the first text stays
    assert index.duplicate_of(TABLE) == ("t2", jaccard(TABLE, closer))
    assert index.duplicate_of(TABLE, "t2") == ("t1", jaccard(TABLE, farther))  # not itself
