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

# The stand-in composes each instruction from independent slots (a pattern, verbs, nouns and
# modifiers from the word lists below, and the content words, phrases and topics of the prompt),
# drawn by an RNG seeded with the prompt's hash: deterministic, and varied enough that at 2,000
# calls most instructions are not near-duplicates of each other (tests/generation/
# test_offline_variety.py). Still a stand-in: the words are combined, not understood.
_GENERIC_SUBJECTS = tuple(subject.strip() for subject in """
renewable energy|public libraries|time management|urban gardening|online privacy|team communication|ancient trade
routes|healthy sleep habits|supply chains|volcanoes|personal budgeting|migratory birds|remote work|coral reefs|local
elections|machine translation|water conservation|early childhood education|small businesses|space exploration|food
safety|bridge engineering|climate adaptation|chess openings""".replace("\n", " ").split("|"))

_NOUNS = tuple("""
harbor glacier orchard bakery lighthouse telescope vaccine hurricane marathon violin bicycle subway monastery desert
algorithm spreadsheet passport tariff mortgage pension invoice warehouse festival carnival pottery textile quilt
compass lantern battery turbine satellite microscope fossil meteor tornado avalanche wetland prairie canyon reef
volcano savanna tundra lagoon estuary aquifer harvest vineyard beehive greenhouse compost fertilizer irrigation
tractor granary bridge tunnel highway railway airport ferry canal dam reservoir pipeline skyscraper cathedral museum
theater stadium arena courthouse library hospital clinic pharmacy school university laboratory workshop factory
brewery dairy fishery sawmill quarry mine refinery newspaper podcast magazine novel poem sonnet opera ballet sculpture
mural fresco tapestry mosaic ceramics woodcarving origami puppetry circus magician juggler acrobat astronaut
archaeologist botanist chemist economist engineer historian journalist librarian linguist mathematician nurse
pharmacist pilot plumber surgeon teacher translator veterinarian zoologist carpenter blacksmith baker farmer
fisherman shepherd beekeeper gardener tailor cobbler potter weaver sailor ranger firefighter referee coach
startup cooperative charity nonprofit parliament senate embassy treaty constitution referendum census budget
inflation recession currency stock bond loan savings insurance taxation subsidy auction lottery bazaar marketplace
penguin dolphin octopus elephant giraffe cheetah falcon owl sparrow salmon tortoise butterfly beetle spider
mushroom cactus bamboo orchid sunflower oak birch redwood seaweed plankton coral lichen moss fern tulip
rainbow eclipse comet nebula galaxy asteroid planet moon tide current monsoon drought blizzard heatwave earthquake
tsunami wildfire flood erosion sediment mineral crystal granite marble sandstone limestone basalt magma geyser
recipe soup bread cheese noodle dumpling pastry salad sandwich curry chutney pickle smoothie espresso tea lemonade
keyboard router server database browser firewall password robot drone sensor thermostat headphone charger printer
umbrella backpack suitcase wallet notebook pencil calendar clock mirror ladder hammer wrench kettle blender
habit routine hobby friendship apprenticeship internship volunteering mentorship negotiation interview deadline
meeting presentation proposal contract warranty refund complaint review survey census election debate protest
""".split())

_ADJECTIVES = tuple("""
ancient modern rural urban coastal alpine tropical arctic medieval futuristic sustainable affordable portable
reusable seasonal regional global local digital analog electric solar nuclear wooden glass plastic organic
handmade homemade vintage experimental traditional innovative fragile durable noisy quiet crowded empty
forgotten famous overlooked controversial popular unusual ordinary efficient wasteful risky safe expensive
cheap colorful minimalist luxurious humble ambitious cautious curious generous stubborn patient clever
clumsy brave shy friendly lonely busy lazy hungry sleepy nocturnal migratory endangered invasive native
abandoned restored flooded frozen dusty muddy sunny rainy windy foggy snowy underground underwater airborne
floating mobile virtual hybrid automated manual collaborative competitive educational therapeutic historic
""".split())

_WRITE_VERBS = ("Write", "Draft", "Compose", "Prepare", "Produce", "Put together", "Craft", "Create")
_EXPLAIN_VERBS = ("Explain", "Describe", "Discuss", "Analyze", "Clarify", "Summarize", "Outline", "Examine")
_FORMS = tuple("""
story|poem|limerick|haiku|dialogue|summary|letter|product description|news headline|speech|riddle|review|
blog post|cover letter|press release|travel itinerary|recipe card|job advertisement|fable|diary entry|
radio announcement|slogan|toast|eulogy|book blurb|op-ed|memo|apology note|thank-you card|safety notice|
museum label|tweet|text message|FAQ entry|tour guide script|weather report|sports commentary|menu description|
lesson plan|grant proposal|packing list|shopping list|mission statement|campaign pitch|user manual section|
cheat sheet|quiz question|debate opening|short essay|elevator pitch|character sketch|bedtime story|ballad""".replace("\n", "").split("|"))
_LENGTHS = ("short", "brief", "two-paragraph", "one-page", "concise", "detailed", "three-sentence", "lively",
            "formal", "casual", "humorous", "serious", "persuasive", "friendly", "suspenseful", "upbeat")
_THINGS = ("reasons", "ways", "steps", "facts", "risks", "benefits", "questions", "tips", "examples", "mistakes",
           "myths", "strategies", "criteria", "warning signs", "lessons", "trade-offs", "habits", "tools",
           "arguments", "priorities", "skills", "rules", "surprises", "obstacles")
_NUMBERS = ("two", "three", "four", "five", "six", "seven", "eight", "ten")
_RELATIONS = ("affects", "depends on", "differs from", "competes with", "supports", "threatens", "resembles",
              "shapes", "benefits from", "is changing", "could replace", "relies on", "inspired", "complicates")
_CRITERIA = ("cost", "safety", "long-term impact", "ease of use", "public perception", "history", "energy use",
             "reliability", "accessibility", "cultural importance", "maintenance", "speed", "comfort", "fairness")
_AUDIENCES = ("for a high school student", "in two sentences", "with one concrete example",
              "for someone new to the subject", "in plain language", "in under fifty words",
              "from a historical point of view", "for a busy manager", "as a numbered list",
              "without using technical terms", "for a ten-year-old", "for a city council", "for tourists",
              "for retired engineers", "for a school newsletter", "for a job interview", "in a friendly tone",
              "with a surprising twist", "for a podcast audience", "from the perspective of a skeptic",
              "for a first-year nurse", "for small farmers", "for an international audience",
              "using only short sentences", "in the style of a sports commentator", "for a rainy afternoon")
_SETTINGS = ("a small town", "a hospital", "a classroom", "a startup", "a kitchen", "a village market",
             "a research station", "a busy airport", "a family farm", "a mountain hut", "a night shift",
             "a science fair", "a city park", "a fishing boat", "a public library", "a football club",
             "a refugee camp", "a space station", "a bakery", "a courtroom", "a newsroom", "a summer camp")
_EVENTS = ("doubled in size", "disappeared overnight", "became free for everyone", "were banned", "moved online",
           "ran out", "became twice as expensive", "were invented a century earlier", "stopped working",
           "became mandatory")
_TONES = ("formal", "playful", "polite", "urgent", "neutral", "enthusiastic", "skeptical", "poetic", "concise",
          "cheerful", "solemn", "confident", "gentle", "dramatic", "dry", "warm", "businesslike", "old-fashioned")

_LIST_VERBS = ("List", "Name", "Give", "Suggest", "Identify", "Point out", "Come up with", "Share", "Collect",
               "Brainstorm", "Note down", "Offer")
_CONNECTORS = ("about", "for", "related to", "involving", "behind", "around", "concerning", "linked to")
_QUESTION_STARTS = ("How does", "Why does", "When does", "Can", "Should", "Could", "In what ways does",
                    "Does", "How much does", "To what extent does", "Under what conditions does", "How often does")
_COMPARE_VERBS = ("Compare", "Contrast", "Weigh", "Evaluate", "Rank", "Judge", "Assess", "Set side by side")
_COMPARE_LINKS = ("and", "with", "against", "versus", "alongside")
_CRITERION_CLAUSES = ("in terms of {c}", "by {c}", "on {c} and {c2}", "focusing on {c}", "with attention to {c}",
                      "judging mainly by {c}", "considering {c} first", "looking at {c} and then {c2}")
_CLASSIFY_LEADS = ("Classify each of the following as {cat1} or {cat2}", "Sort these into {cat1} and {cat2}",
                   "Label each item {cat1} or {cat2}", "Decide whether each is {cat1} or {cat2}",
                   "Group the words below by whether they are {cat1} or {cat2}",
                   "Tag every entry as either {cat1} or {cat2}")
_NAME_KINDS = ("names", "titles", "slogans", "taglines", "nicknames", "mottos", "hashtags", "headlines",
               "chapter titles", "team names", "brand names", "catchphrases")
_IMAGINE_LEADS = ("Imagine", "Suppose", "Picture a world where", "Pretend that", "Assume", "Consider a future where")
_FOLLOW_UPS = ("What happens next?", "Describe the first week.", "Who benefits most?", "List the likely consequences.",
               "What should people do first?", "Who would object, and why?", "Write the opening paragraph of a report.",
               "How would daily routines change?", "What new jobs appear?", "Predict three headlines.")
_PLAN_VERBS = ("Plan", "Design", "Organize", "Sketch out", "Set up", "Put together", "Lay out", "Map out")
_PLAN_NOUNS = ("budget", "schedule", "checklist", "training program", "fundraiser", "workshop", "field trip",
               "campaign", "experiment", "survey", "reading list", "study group", "tasting menu", "open day",
               "cleanup day", "exhibition", "competition", "walking tour", "maintenance routine", "welcome pack")
_QUESTION_KINDS = ("quiz questions", "interview questions", "trivia questions", "discussion prompts",
                   "exam questions", "riddles", "true-or-false statements", "multiple-choice questions",
                   "icebreaker questions", "essay prompts")
_KNOW_VERBS = ("should know", "needs to know", "might ask", "often gets wrong", "rarely hears", "could teach others",
               "would find surprising", "must check")
_HOW_WORDS = ("how", "why", "whether", "when", "in what ways", "to what degree")

# Every pattern keeps its fixed words few: instructions of one pattern differ in most words.
_PATTERNS = (
    "{write} a {length} {form} about {x} {aud}.",
    "{write} a {length} {form} in which {x} meets {y} {setting_in}.",
    "{explain} {how} {x} {relation} {y} {aud}.",
    "{list} {num} {things} {connector} {x} {aud}.",
    "{qstart} {x} {relation_base} {y} {setting_in}?",
    "{compare} {x} {link} {y} {criteria}.",
    "{classify}: {w1}, {w2}, {w3}.",
    "{list} {num} {name_kind} for {x} {aud}.",
    "{imagine} {x} {event} {setting_in}. {follow_up}",
    "{plan} a {adj} {plan_noun} for {x} {setting_in}.",
    "{rewrite} {tone_clause}: {sentence}",
    "{write} {num} {question_kind} about {x} {aud}.",
    "{explain} what {a_person} {know} about {x} {setting_in}.",
    "Turn the keywords {w1}, {w2} and {w3} into a {length} {form}.",
)
_REWRITE_LEADS = ("Rewrite this sentence", "Rephrase the following sentence", "Edit the sentence below",
                  "Restate this line", "Polish the following sentence", "Revise this sentence")
_TONE_CLAUSES = ("in a {tone} tone", "so that it sounds {tone}", "to make it more {tone}", "in a {tone} register",
                 "keeping its meaning but making it {tone}")
_SENTENCE_VERBS = ("looked", "seemed", "became", "felt", "stayed", "grew", "turned")
_SENTENCE_PLACES = ("near", "behind", "beside", "under", "inside", "across from", "next to")
_SENTENCE_TIMES = ("after the {n} arrived", "before the {n} closed", "during the {n} festival", "once the {n} left",
                   "while the {n} was being repaired", "all through the {n} season")
_AN = re.compile(r"\b([Aa]) ([aeiouAEIOU])")
_SETTINGS_IN = tuple(f"in {setting}" for setting in _SETTINGS)
_BASE_RELATIONS = {"affects": "affect", "depends on": "depend on", "differs from": "differ from",
                   "competes with": "compete with", "supports": "support", "threatens": "threaten",
                   "resembles": "resemble", "shapes": "shape", "benefits from": "benefit from",
                   "is changing": "change", "could replace": "replace", "relies on": "rely on",
                   "inspired": "inspire", "complicates": "complicate"}
_PEOPLE = tuple(f"a {noun}" for noun in ("teacher", "nurse", "farmer", "pilot", "librarian", "journalist", "chemist",
                                          "plumber", "historian", "translator", "beekeeper", "carpenter", "ranger",
                                          "referee", "tailor", "student", "retiree", "shop owner", "volunteer"))


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


def _plural(noun: str) -> str:
    if noun.endswith(("s", "sh", "ch", "x", "z")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def _instruction(rng: random.Random, topics: list[str], subjects: list[str], words: list[str]) -> str:
    """One instruction: a pattern filled with independent draws from the slots."""

    def subject() -> str:
        # With topics, most subjects are one of them, as in topic-guided generation.
        if topics and rng.random() < 0.6:
            return rng.choice(topics)
        roll = rng.random()
        if roll < 0.3 and subjects:
            return rng.choice(subjects)
        noun = rng.choice(words) if words and roll < 0.55 else rng.choice(_NOUNS)
        article = rng.choice(("the", "a", "every", "one", "this", "that", "some"))
        return f"{rng.choice(_ADJECTIVES)} {_plural(noun)}" if rng.random() < 0.3 else f"{article} {rng.choice(_ADJECTIVES)} {noun}"

    def word() -> str:
        return rng.choice(words) if words and rng.random() < 0.5 else rng.choice(_NOUNS)

    x = subject()
    y = subject()
    while y == x:
        y = subject()
    relation = rng.choice(_RELATIONS)
    criterion, criterion2 = rng.sample(_CRITERIA, 2)
    cat1, cat2 = rng.sample(_ADJECTIVES, 2)
    fields = {
        "write": rng.choice(_WRITE_VERBS), "explain": rng.choice(_EXPLAIN_VERBS), "form": rng.choice(_FORMS),
        "length": rng.choice(_LENGTHS), "x": x, "y": y, "aud": rng.choice(_AUDIENCES),
        "relation": relation, "relation_base": _BASE_RELATIONS[relation], "num": rng.choice(_NUMBERS),
        "things": rng.choice(_THINGS), "a_person": rng.choice(_PEOPLE), "setting_in": rng.choice(_SETTINGS_IN),
        "event": rng.choice(_EVENTS), "adj": rng.choice(_ADJECTIVES), "tone": rng.choice(_TONES),
        "criteria": rng.choice(_CRITERION_CLAUSES).format(c=criterion, c2=criterion2),
        "classify": rng.choice(_CLASSIFY_LEADS).format(cat1=cat1, cat2=cat2),
        "w1": word(), "w2": word(), "w3": word(),
        "noun": rng.choice(_NOUNS), "noun2": rng.choice(_NOUNS), "noun3": rng.choice(_NOUNS),
        "list": rng.choice(_LIST_VERBS), "connector": rng.choice(_CONNECTORS), "qstart": rng.choice(_QUESTION_STARTS),
        "compare": rng.choice(_COMPARE_VERBS), "link": rng.choice(_COMPARE_LINKS), "name_kind": rng.choice(_NAME_KINDS),
        "imagine": rng.choice(_IMAGINE_LEADS), "follow_up": rng.choice(_FOLLOW_UPS), "plan": rng.choice(_PLAN_VERBS),
        "plan_noun": rng.choice(_PLAN_NOUNS), "question_kind": rng.choice(_QUESTION_KINDS),
        "know": rng.choice(_KNOW_VERBS), "how": rng.choice(_HOW_WORDS), "rewrite": rng.choice(_REWRITE_LEADS),
        "tone_clause": rng.choice(_TONE_CLAUSES).format(tone=rng.choice(_TONES)),
        "sentence": (
            f"The {rng.choice(_NOUNS)} {rng.choice(_SENTENCE_PLACES)} the {word()} {rng.choice(_SENTENCE_VERBS)} "
            f"{rng.choice(_ADJECTIVES)} {rng.choice(_SENTENCE_TIMES).format(n=rng.choice(_NOUNS))}."
        ),
    }
    text = _AN.sub(r"\1n \2", rng.choice(_PATTERNS).format(**fields))
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
