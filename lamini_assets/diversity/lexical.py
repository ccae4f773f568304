"""Lexical diversity of a source's texts: MATTR, distinct-n and the near-duplicate rate.

Every measure runs on one token stream per source: the words (lower-cased `\\w+` runs of the
NFKC-normalised text, as the near-duplicate index reads them) of the texts, in a seeded random order,
concatenated. Instructions are mostly shorter than a 50-word window, so MATTR over single texts is
undefined for most of them; over the stream a window spans a few texts, and a source that repeats
itself across rows scores low, which is what a dataset's diversity is about.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from lamini_assets.dedup.novelty import NoveltyConfig, make_novelty_index, shingle_words


def words(text: str) -> list[str]:
    """The word tokens every lexical measure counts."""
    return shingle_words(text)




def mattr(tokens: Sequence[str], window: int = 50) -> float | None:
    """Moving-average type-token ratio (Covington & McFall 2010): the mean share of distinct tokens
    over every window of `window` consecutive tokens. None when there are fewer tokens than a window."""
    if len(tokens) < window:
        return None
    from lexicalrichness import LexicalRichness  # imports pyplot: only once figures are Agg

    return float(LexicalRichness(list(tokens), preprocessor=None, tokenizer=None).mattr(window_size=window))


def distinct_n(tokens_per_text: Iterable[Sequence[str]], n: int) -> float | None:
    """Distinct n-grams over all n-grams (Li et al. 2016), n-grams taken within each text."""
    seen: set[tuple[str, ...]] = set()
    total = 0
    for tokens in tokens_per_text:
        for i in range(len(tokens) - n + 1):
            seen.add(tuple(tokens[i:i + n]))
            total += 1
    return len(seen) / total if total else None


def near_duplicate_rate(ids: Sequence[str], texts: Sequence[str], config: NoveltyConfig) -> float | None:
    """Share of texts that near-duplicate an earlier text of the same list (the generation filter's
    index: MinHash LSH of word sets by default, Jaccard >= 0.5)."""
    if not texts:
        return None
    index = make_novelty_index(config)
    verdicts = index.check_and_add_batch(list(ids), list(texts))
    return sum(1 for novel, _ in verdicts if not novel) / len(texts)


def lexical_stats(texts: Sequence[str], window: int = 50) -> dict[str, float | int | None]:
    """MATTR, distinct-1/2 and the token count of texts already in their (seeded) order."""
    tokenised = [words(text) for text in texts]
    stream = [word for tokens in tokenised for word in tokens]
    return {
        "tokens": len(stream),
        "mattr": mattr(stream, window),
        "distinct_1": distinct_n(tokenised, 1),
        "distinct_2": distinct_n(tokenised, 2),
    }
