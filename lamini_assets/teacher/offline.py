"""The offline stand-in: deterministic text derived from the prompt. Not a language model.

It lets the demo and the tests run the whole graph without a network. A LaMini generation prompt
("Generate N diverse examples ...") gets exactly N new `<example>` instructions built from the words
of the given examples and topics; any other prompt gets a one-to-three sentence answer that mentions
the prompt's key words. Everything is a function of the prompt text (and the choice index).
"""

from __future__ import annotations

import hashlib
import random
import re

from lamini_assets.generation.config import SELF_INSTRUCT_BLACKLIST

GENERATION_COUNT = re.compile(r"Generate (\d+) diverse examples")
EXAMPLE = re.compile(r"<example>(.*?)</example>", re.DOTALL)
TOPICS = re.compile(r'with the topics "([^"]*)"')


_STOPWORDS = frozenset(
    """a about above after again against all also among an and any are as at be because been before being
    below between both but by can could did do does doing down during each either every few for from further
    had has have having he her here hers him his how however i if in into is it its itself just least less
    like many me might more most much must my no nor not now of off on once one only or other our out over own
    please provide same she should so some such than that the their them then there these they this those
    through to too two under until up upon very was way we well were what when where which while who whom
    why will with within without would yet you your given following using write explain describe list
    generate create make give tell find example examples sentence sentences something things thing someone
    program instruction input output""".split()
)

# Used alongside the prompt's own words so short prompts still give varied instructions.
_GENERIC_SUBJECTS = (
    "renewable energy", "public libraries", "time management", "urban gardening", "online privacy",
    "team communication", "ancient trade routes", "healthy sleep habits", "supply chains", "volcanoes",
    "personal budgeting", "migratory birds", "remote work", "coral reefs", "local elections",
    "machine translation", "water conservation", "early childhood education", "small businesses",
    "space exploration", "food safety", "bridge engineering", "climate adaptation", "chess openings",
)

_FORMS = ("story", "poem", "dialogue", "summary", "letter", "product description", "news headline",
          "speech", "riddle", "review")
_AUDIENCES = ("for a high school student", "in two sentences", "with one concrete example",
              "for someone new to the subject", "in plain language", "in under fifty words",
              "from a historical point of view", "for a busy manager", "as a numbered list",
              "without using technical terms")

_TEMPLATES = (
    "Explain how {a} affects {b} {aud}.",
    "What is the difference between {a} and {b}?",
    "Write a short {form} about {a} and {b}.",
    "List three practical ways to improve {a} {aud}.",
    "Describe the role of {a} in {b}.",
    "How can a beginner learn more about {a} without much money?",
    "Give an example of how {a} is connected to {b}.",
    "Suggest a weekly plan for studying {a} {aud}.",
    "Why is {a} important for {b}?",
    "Summarize the main arguments for and against {a} {aud}.",
    "Compare {a} with {b} and name one advantage of each.",
    "Classify the following item as related to {a} or to {b}: {c}",
    "Write a question a teacher might ask about {a}, then answer it {aud}.",
    "Propose a title for an article about {a} and {b}.",
    "What are common misconceptions about {a}?",
    "Name five facts about {a} that most people do not know.",
    "Rewrite the following sentence so that it sounds more formal: {sentence}",
    "Identify the main challenge of combining {a} with {b}.",
)


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return random.Random(digest)


def _is_clean(text: str) -> bool:
    lowered = text.lower()
    return not any(word in lowered for word in SELF_INSTRUCT_BLACKLIST)


def _content_words(text: str) -> list[str]:
    """Distinct lower-case words of 4+ letters, not stopwords nor blacklisted, in first-seen order."""
    seen: dict[str, None] = {}
    for word in re.findall(r"[A-Za-z][A-Za-z-]{3,}", text):
        lowered = word.lower()
        if lowered not in _STOPWORDS and _is_clean(lowered):
            seen.setdefault(lowered, None)
    return list(seen)


def _phrases(text: str) -> list[str]:
    """Adjacent pairs of content words ("unconscious bias"): readable subjects taken from the examples."""
    found: dict[str, None] = {}
    for clause in re.split(r"[^A-Za-z\s-]", text):
        words = clause.split()
        for first, second in zip(words, words[1:], strict=False):
            pair = f"{first} {second}".lower()
            if len(first) > 3 and len(second) > 3 and not {first.lower(), second.lower()} & _STOPWORDS \
                    and _is_clean(pair):
                found.setdefault(pair, None)
    return list(found)


def _instruction(rng: random.Random, topics: list[str], subjects: list[str], words: list[str]) -> str:
    template = rng.choice(_TEMPLATES)
    # With topics, most instructions are about one of them, as in topic-guided generation.
    a = rng.choice(topics) if topics and rng.random() < 0.7 else rng.choice(subjects)
    b = rng.choice([s for s in subjects if s != a])
    c = rng.choice(words) if words else rng.choice(_GENERIC_SUBJECTS)
    sentence = f"Our team talked about {c} for a long time before anyone reached a decision."
    text = template.format(a=a, b=b, c=c, form=rng.choice(_FORMS), aud=rng.choice(_AUDIENCES), sentence=sentence)
    text = text[0].upper() + text[1:]
    if len(text.split()) < 6:
        text = text.rstrip(".?") + f" {rng.choice(_AUDIENCES)}."
    return " ".join(text.split()[:25])


def generation_answer(prompt: str, choice: int = 0) -> str | None:
    """N `<example>` instructions for a LaMini generation prompt; None when it is not one."""
    match = GENERATION_COUNT.search(prompt)
    if match is None:
        return None
    count = int(match.group(1))
    shown = " ".join(EXAMPLE.findall(prompt[: match.start()]))
    topics_match = TOPICS.search(prompt)
    topics = [t.strip() for t in topics_match.group(1).split(",")] if topics_match else []
    topics = [t for t in topics if t and _is_clean(t)]
    # The examples' phrases first; generic subjects keep small prompts varied.
    subjects = list(dict.fromkeys(_phrases(shown) + list(_GENERIC_SUBJECTS)))
    words = _content_words(shown)
    made: list[str] = []
    seen: set[str] = set()
    salt = 0
    while len(made) < count:
        text = _instruction(_rng(prompt, choice, len(made), salt), topics, subjects, words)
        if text.lower() in seen or not _is_clean(text):
            salt += 1
            continue
        seen.add(text.lower())
        made.append(text)
    return "\n".join(f"<example>{text}</example>" for text in made)


def short_answer(prompt: str, choice: int = 0) -> str:
    """One to three sentences that mention the prompt's key words."""
    words = _content_words(prompt)[:6] or ["this question"]
    rng = _rng(prompt, choice)
    a = words[0]
    b = words[1] if len(words) > 1 else "its context"
    c = words[2] if len(words) > 2 else "the details"
    openers = (
        f"In short, {a} comes down to {b} and {c}.",
        f"The key point about {a} is how it relates to {b}.",
        f"{a.capitalize()} matters mostly because of {b}.",
        f"A good answer about {a} starts from {b}.",
    )
    follow_ups = (
        f" A practical first step is to look closely at {c}.",
        f" Keep {c} in mind, since it changes the outcome.",
        "",
    )
    closers = (" That covers the essentials.", "", f" Overall, {b} is the part to get right.")
    return rng.choice(openers) + rng.choice(follow_ups) + rng.choice(closers)


def judge_answer(prompt: str, choice: int = 0) -> str | None:
    """A grading prompt that asks for "Rating: <A, B, C or D>" gets a deterministic grade; None otherwise."""
    if "Rating: <A, B, C or D>" not in prompt:
        return None
    return f"Rating: {'ABCD'[_rng(prompt, choice).randrange(4)]}"


def offline_completion(messages: tuple[dict[str, str], ...], max_tokens: int | None, n: int) -> tuple[list[str], str]:
    """The stand-in's choices for a chat, and the finish reason ("length" when cut at max_tokens)."""
    prompt = next((m["content"] for m in reversed(messages) if m["role"] == "user"), messages[-1]["content"])
    texts: list[str] = []
    finish_reason = "stop"
    for choice in range(n):
        text = generation_answer(prompt, choice) or judge_answer(prompt, choice) or short_answer(prompt, choice)
        tokens = text.split()
        if max_tokens is not None and len(tokens) > max_tokens:
            text = " ".join(tokens[:max_tokens])
            finish_reason = "length"
        texts.append(text)
    return texts, finish_reason
