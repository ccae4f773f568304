from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from lamini_assets.generation.topics import TopicFilterConfig, TopicParseError, select_topics

DUMP_HEAD = """-- MySQL dump 10.19  Distrib 10.3.38-MariaDB, for debian-linux-gnu (x86_64)
DROP TABLE IF EXISTS `category`;
CREATE TABLE `category` (
  `cat_id` int(10) unsigned NOT NULL AUTO_INCREMENT,
  `cat_title` varbinary(255) NOT NULL DEFAULT '',
  PRIMARY KEY (`cat_id`)
) ENGINE=InnoDB DEFAULT CHARSET=binary;
LOCK TABLES `category` WRITE;
/*!40000 ALTER TABLE `category` DISABLE KEYS */;
"""
DUMP_TAIL = "/*!40000 ALTER TABLE `category` ENABLE KEYS */;\nUNLOCK TABLES;\n"


def write_dump(path: Path, insert_lines: list[str], gzipped: bool = False) -> Path:
    text = DUMP_HEAD + "".join(line + "\n" for line in insert_lines) + DUMP_TAIL
    if gzipped:
        path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    else:
        path.write_text(text, encoding="utf-8")
    return path


ESCAPED_ROWS = (
    r"INSERT INTO `category` VALUES (1,'Children\'s_books',900,40,0),(2,'Back\\slash',99,20,1),"
    r"(3,'\"Weird\"',70,12,0),(4,'Odd),(title',80,30,2),(5,'Washington,_D.C.',5000,300,7);"
)


@pytest.mark.parametrize("gzipped", [False, True])
def test_dump_escapes_commas_and_parens_in_titles(tmp_path: Path, gzipped: bool) -> None:
    dump = write_dump(tmp_path / "category.sql", [ESCAPED_ROWS], gzipped=gzipped)

    selection = select_topics(dump, "sql_dump", TopicFilterConfig(max_words=5))

    assert selection.topics["title"].to_list() == [
        "Children's books", "Back\\slash", '"Weird"', "Odd),(title", "Washington, D.C.",
    ]
    assert selection.topics["pages"].to_list() == [900, 99, 70, 80, 5000]
    assert selection.topics["subcats"].to_list() == [40, 20, 12, 30, 300]


def test_gz_and_plain_dump_agree_and_other_lines_are_skipped(tmp_path: Path) -> None:
    lines = [ESCAPED_ROWS, "INSERT INTO `category` VALUES (6,'Infantry',4000,60,3),(7,'Conidae',700,25,0);"]
    plain = select_topics(write_dump(tmp_path / "a.sql", lines), "sql_dump")
    packed = select_topics(write_dump(tmp_path / "a.sql.gz", lines, gzipped=True), "sql_dump")

    assert plain.counts == packed.counts
    assert plain.topics.equals(packed.topics)
    assert plain.counts["total"] == 7  # rows only: the CREATE TABLE, LOCK and comment lines are not rows


def test_bundled_sample_dump_applies_laminis_filter(sample_dir: Path) -> None:
    selection = select_topics(sample_dir / "category_sample.sql.gz", "sql_dump")
    counts = selection.counts
    titles = set(selection.topics["title"].to_list())

    assert {"Design bureaus", "Conidae", "Infantry", "Children's literature", "Mercury (planet)"} <= titles
    assert counts["total"] == counts["kept"] + sum(v for k, v in counts.items() if k.startswith("dropped_"))
    for reason in ("too_many_words", "few_subcats", "few_pages"):
        assert counts[f"dropped_{reason}"] > 0
    assert counts["kept"] == selection.topics.height
    for row in selection.topics.iter_rows(named=True):
        assert len(row["title"].split()) < 3 and row["subcats"] > 10 and row["pages"] > 50
        assert "_" not in row["title"]
    # Exactly at a bound is dropped: every bound is exclusive.
    assert not {"Boundary subcats", "Boundary pages", "Drifted counter"} & titles


def test_filter_bounds_are_configurable(sample_dir: Path) -> None:
    default = select_topics(sample_dir / "category_sample.sql.gz", "sql_dump")
    looser = select_topics(
        sample_dir / "category_sample.sql.gz", "sql_dump", TopicFilterConfig(max_words=4, min_subcats=9, min_pages=49)
    )

    assert looser.counts["kept"] > default.counts["kept"]
    newly_kept = {"Boundary subcats", "Boundary pages", "Rivers of Europe", "Birds of Africa"}
    assert newly_kept <= set(looser.topics["title"].to_list())


def test_bad_row_names_file_and_line(tmp_path: Path) -> None:
    dump = write_dump(
        tmp_path / "bad.sql",
        ["INSERT INTO `category` VALUES (1,'Jazz',900,40,0);",
         "INSERT INTO `category` VALUES (2,'Opera',900,40,0),(3,'Ballet',many,40,0),(4,'Tea',500,30,0);"],
    )

    with pytest.raises(TopicParseError) as caught:
        select_topics(dump, "sql_dump")

    assert caught.value.path == dump
    assert caught.value.line == DUMP_HEAD.count("\n") + 2
    assert f"{dump}:{caught.value.line}:" in str(caught.value)
    assert "not a category row" in str(caught.value) and "many" in str(caught.value)


def test_lenient_counts_unparseable_rows_and_keeps_the_rest(tmp_path: Path) -> None:
    dump = write_dump(
        tmp_path / "bad.sql",
        ["INSERT INTO `category` VALUES (2,'Opera',900,40,0),(3,'Ballet',many,40,0),(4,'Tea',500,30,0);",
         "INSERT INTO `category` VALUES (5,'Jazz',900,40,0)"],  # no closing ';'
    )

    selection = select_topics(dump, "sql_dump", lenient=True)

    assert selection.topics["title"].to_list() == ["Opera", "Tea", "Jazz"]
    assert selection.counts["dropped_unparseable"] == 2
    assert selection.counts["total"] == 5
    assert len(selection.problems) == 2 and all(str(dump) in problem for problem in selection.problems)


def test_file_without_category_rows_is_refused(tmp_path: Path, sample_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"category_sample\.tsv: no category rows.*INSERT INTO `category`"):
        select_topics(sample_dir / "category_sample.tsv", "sql_dump")
    with pytest.raises(ValueError, match="no category rows"):
        select_topics(write_dump(tmp_path / "empty.sql", []), "sql_dump")


@pytest.mark.parametrize("header", [True, False])
def test_tsv_with_or_without_header(tmp_path: Path, header: bool) -> None:
    body = "Design_bureaus\t120\t14\nJazz_music_of_Norway\t300\t20\nQuokkas\t60\t2\nInfantry\t4000\t60\n"
    path = tmp_path / "categories.tsv"
    path.write_text(("title\tpages\tsubcats\n" if header else "") + body, encoding="utf-8")

    selection = select_topics(path, "tsv")

    assert selection.topics["title"].to_list() == ["Design bureaus", "Infantry"]
    assert selection.counts == {"total": 4, "kept": 2, "dropped_too_many_words": 1, "dropped_few_subcats": 1,
                                "dropped_few_pages": 0, "dropped_unparseable": 0}


def test_tsv_bad_number_names_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "categories.tsv"
    path.write_text("title\tpages\tsubcats\nJazz\t900\t40\nOpera\t900\tlots\n", encoding="utf-8")

    with pytest.raises(TopicParseError, match=r"categories\.tsv:3: field subcats: not an integer: 'lots'"):
        select_topics(path, "tsv")


def test_bundled_tsv_sample_reads(sample_dir: Path) -> None:
    selection = select_topics(sample_dir / "category_sample.tsv", "tsv")

    assert selection.counts["dropped_unparseable"] == 0
    assert selection.counts["kept"] > 0 and selection.counts["total"] > selection.counts["kept"]
