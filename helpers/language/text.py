"""A deterministic text normaliser and clause splitter that run before the translator model.

:func:`normalise` does the arithmetic a language model is bad at: number words become digits
("two and a half" -> 2.5), every speed and duration is rewritten in one unit ("5 km/h" ->
"1.39 m/s", "half a minute" -> "30 seconds"), and the many ways English attaches a duration to
an action become one ("lasting 5 seconds", "and keep it up for 5 seconds", "over a period of
5 seconds" -> "for 5 seconds").

:func:`split_steps` cuts an instruction into clauses, in the order they should happen, at the
generic temporal connectors of English ("then", "after that", "afterwards", "followed by",
"subsequently", "finally", ";", "once you X, Y", "Y, but first X", "before you Y, X"). The model
then translates one clause at a time, so a sequence is no harder than its steps.

Both are generic grammar, written from English, not from the dataset's template pools: they know
no skill, no verb and no direction word. What each clause asks for, and its sign, is the model's job.

    >>> normalise("Run backwards at two and a half metres per second for half a minute!")
    'run backwards at 2.5 m/s for 30 seconds!'
    >>> split_steps("jump for 2 seconds after you run forward, and finally do a flip")
    ['run forward', 'jump for 2 seconds', 'do a flip']
"""

from __future__ import annotations

import re
import unicodedata

from .plans import format_number

ONES = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
# m/s per unit, and seconds per unit
SPEED_UNITS = {"m/s": 1.0, "km/h": 1 / 3.6, "mph": 0.44704, "cm/s": 0.01}
DURATION_UNITS = {"seconds": 1.0, "minutes": 60.0, "hours": 3600.0}

_NUM = r"-?\d+(?:\.\d+)?"
_NUMBER_WORD = "|".join(list(ONES) + list(TENS) + ["hundred", "point"])
_NUMBER_RUN = re.compile(rf"\b(?:{_NUMBER_WORD})(?:[\s-]+(?:{_NUMBER_WORD}))*\b")
_MS = r"(?:met(?:er|re)s?|m)"
_SPEED_PATTERNS = [  # (unit, regex of its spellings); longest spellings first
    ("km/h", r"km\s*/\s*h(?:r|our)?|kmh|kmph|kph|km\s+(?:per|an|a|each)\s+hour|kilomet(?:er|re)s?\s*(?:per|an|a|each|/)\s*h(?:our)?"),
    ("mph", r"mph|miles?\s*(?:per|an|a|each|/)\s*h(?:our)?"),
    ("cm/s", r"cm\s*/\s*s(?:ec(?:ond)?)?|centimet(?:er|re)s?\s*(?:per|a|each|/)\s*s(?:ec(?:ond)?)?"),
    ("m/s", rf"m\s*/\s*s(?:ec(?:ond)?)?|mps|m\s*s\^?-1|{_MS}\s*(?:per|a|each|every|/)\s*s(?:ec(?:ond)?s?)?"),
]
_DURATION_PATTERNS = [
    ("seconds", r"seconds?|secs?|s"),
    ("minutes", r"minutes?|mins?"),
    ("hours", r"hours?|hrs?|h"),
]


def words_to_number(words: list[str]) -> float:
    """``["twenty", "five"]`` -> 25; ``["one", "point", "five"]`` -> 1.5; ``["point", "five"]`` -> 0.5."""
    whole, fraction, after_point = 0, "", False
    for word in words:
        if word == "point":
            after_point = True
        elif after_point:
            fraction += str(ONES.get(word, TENS.get(word, 0)))
        elif word == "hundred":
            whole = max(whole, 1) * 100
        else:
            whole += ONES.get(word, TENS.get(word, 0))
    return float(f"{whole}.{fraction}") if fraction else float(whole)


def convert_speed(value: float, unit: str) -> float:
    """A speed in ``unit`` (m/s, km/h, mph, cm/s) in m/s, rounded as plans write it."""
    return float(format_number(value * SPEED_UNITS[unit]))


def convert_duration(value: float, unit: str) -> float:
    return float(format_number(value * DURATION_UNITS[unit]))


def _replace_number_words(text: str) -> str:
    def convert(match: re.Match) -> str:
        words = [w for w in re.split(r"[\s-]+", match.group(0)) if w]
        if words[-1] == "point":  # "at one point" is not a number
            return match.group(0)
        return format_number(words_to_number(words))

    return _NUMBER_RUN.sub(convert, text)


def normalise(text: str) -> str:
    """Lower-case ``text``, turn number words into digits and rewrite speeds in m/s, durations in seconds."""
    text = unicodedata.normalize("NFKC", str(text)).lower()
    text = text.translate(str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"',
                                         "\u2013": "-", "\u2014": "-", "\u2212": "-"}))
    text = re.sub(r"\s+", " ", text).strip()
    # fractions and articles that stand for numbers
    text = re.sub(r"\b(?:a|an|one) (second|minute|hour) and a half\b", r"1.5 \1s", text)
    text = re.sub(r"\bhalf (?:a|an) ", "0.5 ", text)
    text = re.sub(r"\ba (?:couple|pair) of\b", "2", text)
    text = re.sub(r"\ba dozen\b", "12", text)
    text = re.sub(rf"\b(?:a|an) (?={_MS} (?:per|a) second\b)", "1 ", text)
    text = _replace_number_words(text)
    text = re.sub(rf"({_NUM}) and a half\b", lambda m: format_number(float(m.group(1)) + 0.5), text)
    text = re.sub(rf"({_NUM}) and a quarter\b", lambda m: format_number(float(m.group(1)) + 0.25), text)
    text = re.sub(r"(?<![\w.])\.(\d)", r"0.\1", text)  # .5 -> 0.5
    text = re.sub(r"\b(?:minus|negative) (?=\d)", "-", text)
    # units: speeds first (they contain "s" and "h"), then durations
    for unit, pattern in _SPEED_PATTERNS:
        text = re.sub(rf"({_NUM})\s*-?\s*(?:{pattern})(?![a-z])",
                      lambda m, u=unit: f"{format_number(convert_speed(float(m.group(1)), u))} m/s", text)
    text = re.sub(r"\b(?:a|an) (?=(?:second|minute|hour)\b)", "1 ", text)  # after "km an hour" is gone
    for unit, pattern in _DURATION_PATTERNS:
        text = re.sub(rf"({_NUM})\s*-?\s*(?:{pattern})(?![a-z/])",
                      lambda m, u=unit: f"{format_number(convert_duration(float(m.group(1)), u))} seconds", text)
    text = re.sub(rf"(?<![\d.]){_NUM}(?![\d.])", lambda m: format_number(float(m.group(0))), text)
    text = canonical_durations(re.sub(r"\s+", " ", text).strip())
    return re.sub(r"\s+", " ", text).strip()


# --- durations: one way to attach them -----------------------------------------------------------
_SECONDS = rf"({_NUM}) seconds\b"
_DURATION_LEAD = re.compile(  # "for about", "lasting", "over a period of", "throughout the next", "with a duration of"
    r"\b(?:for|during|lasting|over|throughout|spanning|with)\s+"
    r"(?:(?:for|over|a|an|the|total|period|duration|span|time|course|stretch|length|of|next|following|coming|"
    r"about|around|roughly|approximately|approx|exactly|precisely|just|only|nearly|almost|some|another|"
    r"further|additional|more)\s+)*" + _SECONDS)
_DURATION_CONTINUE = re.compile(  # "..., and keep it up for 5 seconds" -> "... for 5 seconds"
    r"(?:\s*,)?\s+(?:and\s+)?(?:then\s+)?(?:keep(?:ing)? (?:it|that|this|them) (?:up|going)|keep(?:ing)? (?:going|at it|on)|"
    r"keep(?:ing)? doing (?:it|that|this)|continu(?:e|ing)(?: (?:doing )?(?:it|that|this))?|"
    r"carry(?:ing)? on(?: (?:with )?(?:it|that|this))?|hold(?:ing)? (?:it|that|this)|do(?:ing)? (?:it|that|this)|"
    r"(?:do not|don't) stop|go(?:ing)? on|sustain(?:ing)? (?:it|that|this)|maintain(?:ing)? (?:it|that|this)|"
    r"stick(?:ing)? with (?:it|that|this)|repeat(?:ing)? (?:it|that|this))\s+for " + _SECONDS)
_DURATION_SPEND = re.compile(  # "spend 5 seconds on this: X" -> "for 5 seconds: X"
    r"\b(?:spend|take|use|devote)\s+" + _SECONDS + r"(?:\s+(?:on|doing|for|with)\s+(?:this|it|that))?")


def canonical_durations(text: str) -> str:
    """Every duration attached as "for N seconds" (durations are already in seconds here)."""
    text = _DURATION_LEAD.sub(lambda m: f"for {m.group(1)} seconds", text)
    text = _DURATION_CONTINUE.sub(lambda m: f" for {m.group(1)} seconds", text)
    return _DURATION_SPEND.sub(lambda m: f"for {m.group(1)} seconds", text)


# --- clauses: what happens first, what next --------------------------------------------------------
_DONE = r"(?:done|finished|through|over|complete)"
_THAT_DONE = rf"(?:(?:that|this|it)(?:'s| is| has been)|you(?:'re| are|'ve| have)(?: been)?) {_DONE}"
_CONNECTOR = re.compile(  # A <connector> B: A happens first
    r"(?:\s*[,;.!:]+\s*|\s+)(?:and\s+)?(?:(?:right|immediately|straight|just|directly|soon|shortly)\s+)?"
    rf"(?:then|after (?:that|this|which|it)|afterwards?|subsequently|followed by|later(?: on)?|finally|lastly|"
    rf"eventually|thereafter|in the end|at the end|to (?:finish|end|conclude)(?: (?:off|up))?|"
    rf"when {_THAT_DONE}|once {_THAT_DONE}|after {_THAT_DONE})\b"
)
_LISTED = re.compile(r"\s*[,;.!]+\s*(?:and\s+)?(?:next|second(?:ly)?|third(?:ly)?|fourth(?:ly)?|fifth(?:ly)?)\b")
# spoken fillers and discourse markers: no step of their own ("right then, X", "so lastly, X")
_FILLER = (r"(?:um+|uh+|erm|er|hmm+|like|actually|basically|well|so|ok|okay|alright|all right|right|now|anyway|"
           r"really|you know|i guess|i think|i mean|maybe|perhaps|please|yes|yeah|oh)")
_FILLER_ONLY = re.compile(rf"^(?:{_FILLER}\b[\s,;:.!?-]*)+$")
_LEADING = re.compile(  # connector words left at the start of a clause, and the openers of the first one
    r"^(?:[\s,;:.!-]+|(?:and|then|next|first(?: of all)?|firstly|to (?:begin|start)(?: (?:with|off))?|initially|"
    r"lastly|finally|afterwards?|after (?:that|this)|straight after|right after|immediately|right away|"
    rf"straight away)\b|(?:this|that|it)\s*:|{_FILLER}\s*[,;:.!-])+")
_TRAILING = re.compile(r"(?:[\s,;:-]+|\b(?:and|then))+$")
_NOT_A_STEP = r"(?!(?:can|could|may|might|want|wish|like|please|are ready|'re ready|feel like)\b)"
_REORDER = [  # (pattern, order of its groups in time)
    (re.compile(r"^before (?:you |it |that )?(.+?)\s*,\s*(.+)$"), (2, 1)),  # before you B, A
    (re.compile(rf"^(?:once|after|as soon as|when) (?:you(?:'ve| have)? |it(?:'s| has)? ){_NOT_A_STEP}(.+?)\s*,\s*(.+)$"),
     (1, 2)),  # once you A, B
    (re.compile(r"^(.+?)\s*,?\s+but (?:first|before that|beforehand)\b\s*,?\s*(.+)$"), (2, 1)),  # B, but first A
    (re.compile(rf"^(.+?)\s*,?\s+(?:but\s+)?(?:only\s+)?(?:once|after|as soon as|when) (?:you(?:'ve| have)? ){_NOT_A_STEP}(.+)$"),
     (2, 1)),  # B after you A
    (re.compile(r"^(.+?)\s*,?\s+before (?:you |it |that )(.+)$"), (1, 2)),  # A before you B
]


def _clean(clause: str) -> str:
    return _TRAILING.sub("", _LEADING.sub("", clause.strip())).strip()


def _reorder(clause: str, depth: int = 0) -> list[str]:
    for pattern, order in _REORDER:
        match = pattern.match(clause)
        if match and depth < 3:
            parts = [_clean(match.group(i)) for i in order]
            if all(parts):
                return [c for part in parts for c in _reorder(part, depth + 1)]
    return [clause]


def split_steps(normalised: str) -> list[str]:
    """A normalised instruction's clauses, in the order they should happen (see the module docstring).

    Only explicit temporal connectors split; "jump and flip", "jump. flip." stay one clause, which
    the model may still read as two steps. Never returns an empty list for a non-empty text."""
    text = normalised.strip()
    pieces = [p for chunk in _CONNECTOR.split(text) for p in _LISTED.split(chunk)]
    clauses = []
    for piece in pieces:
        for part in re.split(r"\s*;\s*", piece):
            part = _clean(part)
            if part:
                clauses += _reorder(part)
    return [c for c in clauses if not _FILLER_ONLY.match(c)] or [text]
