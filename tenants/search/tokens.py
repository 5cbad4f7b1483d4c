"""Turning text into search tokens, the same way for what is indexed and what is asked.

Text is NFKC-normalised and case-folded. Alphabetic scripts split into words (letters and
digits); each word is indexed as it is and, when it carries accents, without them, so "muller"
finds "Müller". Chinese, Japanese and Korean are written without spaces between words, so a run
of Han, Hiragana, Katakana or Hangul is indexed as its single characters plus every overlapping
pair of characters: a two-character query ("北京") is then one token that matches exactly, and a
longer one is the pairs it is made of, all required.

Both databases receive the tokens already cut, separated by single spaces; neither's own
word-breaking (PostgreSQL's parser, SQLite's unicode61) has anything left to decide.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

# Han (with extension A and compatibility ideographs), Hiragana, Katakana (and its phonetic
# extensions, half-width forms after NFKC become full-width), Hangul syllables and jamo.
_CJK = (
    "\u3040-\u309f"  # Hiragana
    "\u30a0-\u30ff\u31f0-\u31ff"  # Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han
    "\U00020000-\U0002ffff"  # Han extensions B-F
    "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"  # Hangul
)
_RUN = re.compile(rf"([{_CJK}]+)|([^\W_{_CJK}]+)")
#: Longest token kept; longer "words" (hashes, base64) are cut to this.
MAX_TOKEN = 60
#: Most tokens kept for one record (a record's search text is its name and a few fields).
MAX_TOKENS = 400


def normalize(text: str) -> str:
    """NFKC and case folding: full-width forms, ligatures and case all compare equal."""
    return unicodedata.normalize("NFKC", text).casefold()


def fold_accents(word: str) -> str:
    """The word without combining marks ("müller" → "muller"); CJK is left alone."""
    decomposed = unicodedata.normalize("NFKD", word)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFKC", stripped)


def _runs(text: str) -> Iterable[tuple[str, bool]]:
    """(run, is_cjk) for each run of CJK characters or of letters and digits."""
    for match in _RUN.finditer(normalize(text)):
        cjk, word = match.groups()
        if cjk:
            yield cjk, True
        else:
            yield word[:MAX_TOKEN], False


def _cjk_tokens(run: str) -> list[str]:
    pairs = [run[i : i + 2] for i in range(len(run) - 1)]
    return list(run) + pairs


def document_tokens(texts: Iterable[str | None]) -> str:
    """The indexed token text of a record: unique tokens in first-seen order, space separated."""
    seen: dict[str, None] = {}
    for text in texts:
        if not text:
            continue
        for run, cjk in _runs(text):
            if cjk:
                for token in _cjk_tokens(run):
                    seen.setdefault(token, None)
                continue
            seen.setdefault(run, None)
            folded = fold_accents(run)
            if folded and folded != run:
                seen.setdefault(folded, None)
        if len(seen) >= MAX_TOKENS:
            break
    return " ".join(list(seen)[:MAX_TOKENS])


@dataclass(frozen=True)
class QueryTerm:
    token: str
    prefix: bool  # a partial word: match any indexed token that starts with it


def query_terms(query: str) -> list[QueryTerm]:
    """The terms a record must all contain to match ``query``.

    Words are matched as prefixes (typing "acm" finds "Acme"). A CJK run of one character is that
    character; a longer run is its overlapping pairs, which the index holds as whole tokens.
    """
    terms: dict[str, QueryTerm] = {}
    for run, cjk in _runs(query):
        if cjk:
            parts = [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]
            for token in parts:
                terms.setdefault(token, QueryTerm(token, prefix=False))
            continue
        token = fold_accents(run)
        terms.setdefault(token, QueryTerm(token, prefix=True))
    return list(terms.values())[:12]


def match_key(text: str | None) -> str:
    """A record title as compared for "exact name match first": normalised, spaces collapsed."""
    return " ".join(fold_accents(normalize(text or "")).split())[:200]
