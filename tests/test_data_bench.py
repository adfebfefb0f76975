"""bench.py's webpages section: the real-shaped page generator and the rows it gives (no timing assertions:
the figures are printed by the benchmark and written in README)."""
import random

import bench
import data_pipeline as dp


def test_web_pool_plants_copies_of_benchmark_texts_in_real_shaped_pages():
    problem = {"question": "A farmer has 17 sheep and buys 5 more each week. How many sheep after 3 weeks?",
               "solution": "He buys 5 * 3 = 15, so 17 + 15 = 32."}
    docs, planted = bench.web_pool(140, 7, [problem], seed=1)
    assert len(docs) == 140 and len(planted) == 7  # on every 20th page
    kinds = {d["url"].split("/")[3] for d in docs}
    assert kinds == {"calendar", "numbered-list", "table", "chinese", "math-blog", "forum-thread", "news"}
    text = {d["url"]: d["text"] for d in docs}
    for url, lines in planted.items():  # each planted copy is on its page, line for line
        assert all(line in text[url].split("\n") for line in lines)
    # the four ways of copying keep the words that decontamination matches on
    rng = random.Random(0)
    for how in ("verbatim", "whitespace", "case", "punctuation"):
        copy = bench.copied(problem["question"], rng, how)
        assert dp.match_words(copy) == dp.match_words(problem["question"])


def test_webpages_section_rows(tmp_path):
    rows = bench.main(["--quick", "--only", "webpages", "--web-pages", "140", "--repeats", "1",
                       "--out", str(tmp_path / "bench.jsonl")])
    by_name = {r.name: r for r in rows if r.section == "webpages"}
    assert set(by_name) == {"read WARC records (no extraction)", "extract: HTML -> text with LaTeX, 1 worker",
                            "read JSONL pool", "dedup, 1 worker", "decontaminate, --min-content 0, 1 worker",
                            "decontaminate, --min-content 3, 1 worker"}
    read = by_name["read JSONL pool"].value
    dedup = by_name["dedup, 1 worker"]
    assert dedup.baseline == "read JSONL pool" and abs(dedup.ratio - dedup.value / read) < 1e-9
    rule = by_name["decontaminate, --min-content 3, 1 worker"].extra
    assert rule["leaks"] == 7 and rule["leaks_removed"] == 7 and rule["clean_touched"] == 0.0
