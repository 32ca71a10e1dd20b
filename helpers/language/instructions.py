"""An instruction dataset generated from the skill table: natural language -> task plan text.

Every example is an instruction as a person might type it, with the plan the translator should
write for it (see :mod:`helpers.language.plans` for the plan language and its semantics). The wording
comes from two disjoint *template pools*, kept as data files under ``helpers/language/pools/``:

* ``TRAIN_POOL`` makes the train, validation and test splits (test and validation are new random
  fills of the same templates, never an instruction seen in training);
* ``PARAPHRASE_POOL`` makes the paraphrase split: other verbs, frames, connectors and duration
  phrasings, none of which occurs in the training templates. It measures whether the translator
  learned the meaning or the templates.

Both pools share numbers and units (digits, words, m/s, km/h, mph, minutes), which the normaliser
canonicalises anyway. Generation is seeded and deterministic: the same config gives the same examples.

    >>> data = build_dataset(DatasetConfig(n_train=100, n_val=10, n_test=10, n_paraphrase=10))
    >>> data["train"][0].instruction, data["train"][0].plan
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..core.errors import NotAvailableError
from .plans import UNKNOWN, format_number, plan_text
from .text import ONES, TENS, convert_duration, convert_speed, normalise

SPLITS = ("train", "val", "test", "paraphrase_dev", "paraphrase")


@dataclass(frozen=True)
class Pool:
    """All the wording of one template pool. ``{x}``: a verb phrase; ``{d}``: a duration;
    ``{v}``: a speed; ``{dir}``: a direction word; ``{np}``: a noun phrase; ``{a} {b} {c}``: steps."""

    verbs: dict[str, list[str]]  # imperative verb phrases per skill ("stand_still" = target_speed 0)
    speed_verbs: list[str]  # target_speed phrases with {v} and optionally {dir}
    walk_speed_verbs: list[str]  # "walk at {v}": walk has no speed goal, the plan is walk
    nouns: dict[str, list[str]]  # descriptions of the motion
    speed_nouns: list[str]
    refusals: list[str]  # requests no skill covers (verb phrases: they take frames and durations)
    chatter: list[str]  # greetings and questions: no skill either, used as they are
    frames: list[str]  # wrappers around a verb phrase (or a whole sequence)
    noun_frames: list[str]
    durations: list[str]  # how a duration attaches to a verb phrase
    noun_durations: list[str]
    sequences2: list[str]  # {a} happens before {b}, whatever the word order
    sequences3: list[str]
    forward: list[str]
    backward: list[str]


# The wording lives in data files, one phrase per line (helpers/language/pools/<pool>/<field>.txt, and
# <field>/<skill>.txt for the per-skill fields), so that a change of wording is a reviewable diff.
# A phrase may appear several times: that is its weight when drawn. "<none>" is the empty phrase.
POOLS_DIR = Path(__file__).resolve().parent / "pools"
EMPTY_PHRASE = "<none>"
POOL_SKILLS = ("run_forward", "run_backward", "jump", "front_flip", "walk", "stand_up", "stand_still")


def read_phrases(path: Path) -> list[str]:
    """The phrases of one pool file, in order (blank lines and ``#`` comments skipped)."""
    if not path.exists():
        raise NotAvailableError(f"phrase file {path} is missing (the instruction generator reads its wording there)")
    lines = path.read_text(encoding="utf-8").splitlines()
    return ["" if line == EMPTY_PHRASE else line for line in lines if line.strip() and not line.startswith("#")]


def load_pool(name: str) -> Pool:
    """The pool ``name`` ("train" or "paraphrase") from its folder under :data:`POOLS_DIR`."""
    folder = POOLS_DIR / name
    values = {}
    for f in dataclasses.fields(Pool):
        if (folder / f.name).is_dir():
            values[f.name] = {skill: read_phrases(folder / f.name / f"{skill}.txt") for skill in POOL_SKILLS}
        else:
            values[f.name] = read_phrases(folder / f"{f.name}.txt")
    return Pool(**values)


TRAIN_POOL = load_pool("train")
PARAPHRASE_POOL = load_pool("paraphrase")


def split_pool(pool: Pool, part: str, fallback: Pool) -> Pool:
    """Half of every category's templates: ``"dev"`` the 2nd, 4th, ... distinct ones, ``"test"`` the
    1st, 3rd, ... (each with its repeats: they are its weight). A category with a single template keeps
    it for ``"test"``; ``"dev"`` borrows the ``fallback`` pool's there, so dev never sees a test template."""
    def half(items: list[str], backup: list[str]) -> list[str]:
        distinct = list(dict.fromkeys(items))
        keep = set(distinct[(part == "dev")::2])
        chosen = [x for x in items if x in keep]
        return chosen or list(backup)

    values = {}
    for f in dataclasses.fields(Pool):
        ours, theirs = getattr(pool, f.name), getattr(fallback, f.name)
        values[f.name] = ({k: half(v, theirs[k]) for k, v in ours.items()} if isinstance(ours, dict) else half(ours, theirs))
    return Pool(**values)


# Refusal thresholds and decoding knobs are tuned on the dev half; the test half is only ever scored
PARAPHRASE_DEV_POOL = split_pool(PARAPHRASE_POOL, "dev", TRAIN_POOL)
PARAPHRASE_TEST_POOL = split_pool(PARAPHRASE_POOL, "test", TRAIN_POOL)
# words only the paraphrase pool uses (a test checks the training pool has none of them)
PARAPHRASE_ONLY_WORDS = set(read_phrases(POOLS_DIR / "paraphrase_only_words.txt"))

SPEED_SPELLINGS = {
    "m/s": ["m/s", "m/s", "m/s", "metres per second", "meters per second", "meter per second", "m per s", "mps",
            "metres a second", "m/sec", "meters/second"],
    "km/h": ["km/h", "kilometres per hour", "kilometers an hour", "kph", "km per hour", "kmh"],
    "mph": ["mph", "miles per hour", "miles an hour"],
    "cm/s": ["cm/s", "centimetres per second"],
}
DURATION_SPELLINGS = {
    "seconds": ["seconds", "seconds", "seconds", "s", "sec", "secs", "second"],
    "minutes": ["minutes", "minute", "min", "mins"],
    "hours": ["hours", "hour"],
}
# discourse fillers, inserted anywhere in a few examples of every split: words that mean nothing
FILLERS = read_phrases(POOLS_DIR / "fillers.txt")
SKILL_WEIGHTS = {"target_speed": 30, "run_forward": 12, "run_backward": 12, "jump": 11, "front_flip": 11,
                 "walk": 10, "stand_up": 10, "stand_still": 4}
# numbers and units stay intact: a typo there changes the meaning, not just the spelling
_NO_TYPOS = set(ONES) | set(TENS) | {"hundred", "point", "minus", "negative", "second", "seconds", "minute", "minutes",
                                     "hours", "metres", "meters", "metre", "meter", "kilometres", "kilometers",
                                     "miles", "centimetres", "couple", "dozen"}
_ONES = list(ONES)  # the word of each number 0..19 (the normaliser's table, read backwards)
_TENS = ["", ""] + list(TENS)  # the word of each multiple of ten from 20


@dataclass(frozen=True)
class DatasetConfig:
    seed: int = 0
    n_train: int = 30_000
    n_val: int = 500
    n_test: int = 2_000
    n_paraphrase: int = 2_000
    n_paraphrase_dev: int = 500
    refusal_share: float = 0.12  # whole instructions no skill covers (incl. greetings and gibberish)
    mixed_share: float = 0.03  # sequences with one uncovered step
    noun_share: float = 0.07  # descriptions of the motion ("show me a front flip")
    sequence_share: float = 0.3  # two or three steps
    typo_rate: float = 0.06  # examples with one typo in a word
    filler_rate: float = 0.06  # examples with one discourse filler ("um", "like", "basically") inserted


@dataclass(frozen=True)
class Example:
    instruction: str  # what a person types
    normalised: str  # what the model reads (helpers.normalise)
    plan: str  # what the model should write (helpers.plans)
    kind: str  # single | noun | sequence | refusal | mixed | gibberish
    templates: tuple[str, ...] = field(default=())  # "category:template" keys, for the disjointness tests

    def to_json(self) -> dict:
        return asdict(self)


def integer_words(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    return str(n)


def number_surface(value: float, rng: random.Random, words_share: float = 0.25) -> str:
    """How a person might write ``value``: digits mostly, sometimes words ("two and a half")."""
    if rng.random() >= words_share or value >= 100:
        text = format_number(value)
        return text + ".0" if rng.random() < 0.05 and "." not in text else text
    whole, frac = int(value), round(value - int(value), 2)
    if frac == 0:
        return integer_words(whole)
    if frac == 0.5 and whole >= 1 and rng.random() < 0.5:
        return f"{integer_words(whole)} and a half"
    digits = format_number(frac)[2:]
    return f"{integer_words(whole)} point " + " ".join(_ONES[int(d)] for d in digits)


class Generator:
    """Draws examples from one pool with one seeded random stream."""

    def __init__(self, pool: Pool, pool_name: str, config: DatasetConfig, rng: random.Random):
        self.pool, self.pool_name, self.config, self.rng = pool, pool_name, config, rng
        self.used: list[str] = []

    def pick(self, category: str, options: list[str]) -> str:
        choice = self.rng.choice(options)
        self.used.append(f"{category}:{choice}")
        return choice

    # numbers ------------------------------------------------------------------------------------
    def speed(self) -> tuple[str, float]:
        """A speed phrase ("2.5 m/s", "nine km/h") and its magnitude in m/s."""
        rng = self.rng
        unit = rng.choices(["m/s", "km/h", "mph", "cm/s"], weights=[75, 15, 6, 4])[0]
        out_of_range = rng.random() < 0.08
        if unit == "m/s":
            if out_of_range:
                value = rng.choice([round(rng.uniform(3.1, 12), 1), float(rng.randint(4, 20))])
            else:
                value = rng.choice([float(rng.randint(0, 3)), rng.randint(0, 5) / 2, round(rng.uniform(0.1, 3), 1),
                                    round(rng.uniform(0.05, 3), 2)])
        elif unit == "km/h":
            value = float(rng.randint(12, 40)) if out_of_range else rng.choice(
                [float(rng.randint(1, 10)), round(rng.uniform(0.5, 10.8), 1), 3.6, 7.2, 5.4, 9.0, 10.8])
        elif unit == "mph":
            value = float(rng.randint(8, 25)) if out_of_range else rng.choice([float(rng.randint(1, 6)), 1.5, 2.5, 4.5])
        else:
            value = float(rng.randint(40, 99) * 10) if out_of_range else float(rng.randint(1, 30) * 10)
        spelling = rng.choice(SPEED_SPELLINGS[unit])
        return f"{number_surface(value, rng)} {spelling}", convert_speed(value, unit)

    def duration(self) -> tuple[str, float]:
        rng = self.rng
        r = rng.random()
        if r < 0.08:  # spelled-out amounts
            return rng.choice([("half a minute", 30.0), ("a minute", 60.0), ("a minute and a half", 90.0),
                               ("a couple of seconds", 2.0), ("a second", 1.0), ("an hour", 3600.0)])
        if r < 0.2:
            value, unit = rng.choice([1.0, 2.0, 0.5, 1.5, 3.0, float(rng.randint(2, 10))]), "minutes"
        elif r < 0.22:
            value, unit = float(rng.randint(1, 2)), "hours"
        else:
            unit = "seconds"
            value = rng.choices([float(rng.randint(1, 30)), rng.randint(1, 40) / 2, round(rng.uniform(0.5, 20), 1),
                                 float(rng.randint(30, 120)), float(rng.randint(301, 900))], weights=[50, 15, 15, 12, 4])[0]
        spelling = rng.choice(DURATION_SPELLINGS[unit])
        if value == 1 and spelling.endswith("s") and len(spelling) > 3:
            spelling = spelling[:-1]
        surface = number_surface(value, rng)
        if rng.random() < 0.08 and spelling in ("seconds", "minutes") and "." not in surface and " " not in surface:
            return f"{surface}-{spelling[:-1]}", convert_duration(value, unit)  # "a 3-second sprint" style
        return f"{surface} {spelling}", convert_duration(value, unit)

    # one step ---------------------------------------------------------------------------------
    def step(self, nouns: bool = False, with_duration: float = 0.35) -> tuple[str, tuple]:
        """A phrase for one step and its plan tuple (skill, speed, duration)."""
        rng, pool = self.rng, self.pool
        skill = rng.choices(list(SKILL_WEIGHTS), weights=list(SKILL_WEIGHTS.values()))[0]
        speed = None
        if skill == "target_speed":
            surface, magnitude = self.speed()
            backward = rng.random() < 0.45
            template = self.pick("speed_noun" if nouns else "speed_verb", pool.speed_nouns if nouns else pool.speed_verbs)
            if "{dir}" in template:
                if backward and rng.random() < 0.15:
                    direction, surface = "", "-" + surface if surface[0].isdigit() else "minus " + surface
                else:
                    direction = rng.choice(pool.backward if backward else pool.forward)
                    if direction:  # "" (no direction word) is in both pools and is no template
                        self.used.append(f"direction:{direction}")
            else:
                direction = ""
                if backward:
                    surface = "-" + surface if surface[0].isdigit() else "minus " + surface
            phrase = template.format(v=surface, dir=direction)
            skill, speed = "target_speed", -magnitude if backward else magnitude
        elif skill == "walk" and not nouns and rng.random() < 0.1:
            phrase = self.pick("walk_speed_verb", pool.walk_speed_verbs).format(v=self.speed()[0])
        else:
            phrase = self.pick(f"noun:{skill}" if nouns else f"verb:{skill}", (pool.nouns if nouns else pool.verbs)[skill])
            if skill == "stand_still":
                skill, speed = "target_speed", 0.0
        duration = None
        if rng.random() < with_duration:
            d_surface, duration = self.duration()
            form = self.pick("noun_duration" if nouns else "duration", pool.noun_durations if nouns else pool.durations)
            phrase = form.format(x=phrase, np=phrase, d=d_surface)
        return " ".join(phrase.split()), (skill, speed, duration)

    def refusal_step(self, with_duration: float = 0.15) -> tuple[str, tuple]:
        phrase = self.pick("refusal", self.pool.refusals)
        if self.rng.random() < with_duration:
            phrase = self.pick("duration", self.pool.durations).format(x=phrase, d=self.duration()[0])
        return phrase, (UNKNOWN,)

    def gibberish(self) -> str:
        rng = self.rng
        letters = "abcdefghijklmnopqrstuvwxyz"
        words = ["".join(rng.choice(letters) for _ in range(rng.randint(1, 9))) for _ in range(rng.randint(1, 5))]
        if rng.random() < 0.2:
            words.append(str(rng.randint(0, 99)))
        return " ".join(words)

    # whole instructions -------------------------------------------------------------------------
    def example(self) -> Example:
        rng, pool, cfg = self.rng, self.pool, self.config
        self.used = []
        r = rng.random()
        edges = [cfg.refusal_share, cfg.mixed_share, cfg.noun_share, cfg.sequence_share]
        if r < edges[0]:
            r = rng.random()
            if r < 0.15:
                text, steps, kind = self.pick("frame", pool.frames).format(x=self.gibberish()), [(UNKNOWN,)], "gibberish"
            elif r < 0.3:
                text, steps, kind = self.pick("chatter", pool.chatter), [(UNKNOWN,)], "refusal"
            else:
                text, step = self.refusal_step()
                text, steps, kind = self.pick("frame", pool.frames).format(x=text), [step], "refusal"
        elif r < sum(edges[:2]):
            parts = [self.step(with_duration=0.5), self.refusal_step()]
            rng.shuffle(parts)
            text = self.pick("sequence2", pool.sequences2).format(a=parts[0][0], b=parts[1][0])
            steps, kind = [p[1] for p in parts], "mixed"
        elif r < sum(edges[:3]):
            phrase, step = self.step(nouns=True)
            text, steps, kind = self.pick("noun_frame", pool.noun_frames).format(np=phrase), [step], "noun"
        elif r < sum(edges[:4]):
            n = 2 if rng.random() < 0.75 else 3
            parts = [self.step(with_duration=0.5) for _ in range(n)]
            template = self.pick(f"sequence{n}", pool.sequences2 if n == 2 else pool.sequences3)
            text = template.format(**{k: p[0] for k, p in zip("abc", parts)})
            if rng.random() < 0.3:
                text = self.pick("frame", pool.frames).format(x=text)
            steps, kind = [p[1] for p in parts], "sequence"
        else:
            phrase, step = self.step()
            text, steps, kind = self.pick("frame", pool.frames).format(x=phrase), [step], "single"
        text = self.noise(" ".join(text.split()))
        return Example(text, normalise(text), plan_text(steps), kind, tuple(sorted(set(self.used))))

    def noise(self, text: str) -> str:
        """Capitals, a typo, stray punctuation: what real typed instructions look like."""
        rng = self.rng
        if rng.random() < self.config.typo_rate:
            words = text.split(" ")
            candidates = [i for i, w in enumerate(words) if w.isalpha() and len(w) > 4 and w.lower() not in _NO_TYPOS]
            if candidates:
                i = rng.choice(candidates)
                w, j = words[i], rng.randrange(1, len(words[i]) - 1)
                words[i] = rng.choice([w[:j] + w[j + 1:], w[:j] + w[j + 1] + w[j] + w[j + 2:], w[:j] + w[j] + w[j:]])
                text = " ".join(words)
        if rng.random() < self.config.filler_rate:  # a spoken-language filler that changes nothing
            words = text.split(" ")
            # only between phrases (the start, the end, after punctuation), never inside "half a minute"
            safe = [i for i in range(len(words) + 1) if i in (0, len(words)) or words[i - 1][-1] in ",.!?;:"]
            at = rng.randrange(len(words) + 1)
            words.insert(min(safe, key=lambda i: (abs(i - at), i)), rng.choice(FILLERS))
            text = " ".join(words)
        r = rng.random()
        if r < 0.35:
            text = text[:1].upper() + text[1:]
        elif r < 0.38:
            text = text.upper()
        if rng.random() < 0.15 and text[-1].isalnum():
            text += rng.choice([".", "!", "..."])
        return text


def generate(pool: Pool, pool_name: str, n: int, config: DatasetConfig, stream: str,
             exclude: set[str] | None = None) -> list[Example]:
    """``n`` distinct examples from ``pool`` (none whose normalised text is in ``exclude``)."""
    rng = random.Random(f"{config.seed}:{stream}")  # str seeds hash deterministically
    gen = Generator(pool, pool_name, config, rng)
    seen = set(exclude or ())
    out: list[Example] = []
    for _ in range(n * 50):
        if len(out) == n:
            break
        example = gen.example()
        if example.normalised not in seen:
            seen.add(example.normalised)
            out.append(example)
    else:
        raise RuntimeError(f"could not draw {n} distinct examples for {stream!r}; the pool is too small")
    return out


def generator_fingerprint() -> str:
    """A short hash of all the wording the generator draws from. Training runs record it, so a run
    is never resumed (or compared) on a dataset whose pools were edited since it started."""
    wording = (TRAIN_POOL, PARAPHRASE_POOL, SPEED_SPELLINGS, DURATION_SPELLINGS, FILLERS, SKILL_WEIGHTS)
    return hashlib.sha256(repr(wording).encode()).hexdigest()[:16]


def build_dataset(config: DatasetConfig = DatasetConfig()) -> dict[str, list[Example]]:
    """Train, validation, test (train templates, new fills), and the paraphrase dev and test splits
    (other templates: disjoint halves of the paraphrase pool)."""
    train = generate(TRAIN_POOL, "train", config.n_train, config, "train")
    seen = {e.normalised for e in train}
    val = generate(TRAIN_POOL, "train", config.n_val, config, "val", exclude=seen)
    seen |= {e.normalised for e in val}
    test = generate(TRAIN_POOL, "train", config.n_test, config, "test", exclude=seen)
    seen |= {e.normalised for e in test}
    paraphrase_dev = generate(PARAPHRASE_DEV_POOL, "paraphrase", config.n_paraphrase_dev, config, "paraphrase_dev",
                              exclude=seen)
    seen |= {e.normalised for e in paraphrase_dev}
    paraphrase = generate(PARAPHRASE_TEST_POOL, "paraphrase", config.n_paraphrase, config, "paraphrase", exclude=seen)
    return {"train": train, "val": val, "test": test, "paraphrase_dev": paraphrase_dev, "paraphrase": paraphrase}


def tuning_splits(data: dict[str, list[Example]], config: DatasetConfig, n_extra: int) -> dict[str, list[Example]]:
    """The dev splits decoding knobs are tuned on: ``val`` and ``paraphrase_dev``, each with ``n_extra``
    more examples from the same pools, drawn in streams of their own and unlike any text of ``data``,
    so that a knob is not chosen by a handful of examples while every split of ``data`` stays as it is."""
    seen = {e.normalised for split in data.values() for e in split}
    more_val = generate(TRAIN_POOL, "train", n_extra, config, "val_extra", exclude=seen)
    seen |= {e.normalised for e in more_val}
    more_dev = generate(PARAPHRASE_DEV_POOL, "paraphrase", n_extra, config, "paraphrase_dev_extra", exclude=seen)
    return {"val": data["val"] + more_val, "paraphrase_dev": data["paraphrase_dev"] + more_dev}


def pool_templates(pool: Pool) -> set[str]:
    """Every "category:template" key a pool can produce (for the disjointness checks)."""
    keys = set()
    for skill, phrases in pool.verbs.items():
        keys |= {f"verb:{skill}:{p}" for p in phrases}
    for skill, phrases in pool.nouns.items():
        keys |= {f"noun:{skill}:{p}" for p in phrases}
    for category in ("speed_verbs", "walk_speed_verbs", "speed_nouns", "refusals", "chatter", "frames", "noun_frames",
                     "durations", "noun_durations", "sequences2", "sequences3"):
        name = {"speed_verbs": "speed_verb", "walk_speed_verbs": "walk_speed_verb", "speed_nouns": "speed_noun",
                "refusals": "refusal", "chatter": "chatter", "frames": "frame", "noun_frames": "noun_frame", "durations": "duration",
                "noun_durations": "noun_duration", "sequences2": "sequence2", "sequences3": "sequence3"}[category]
        keys |= {f"{name}:{t}" for t in getattr(pool, category)}
    keys |= {f"direction:{d}" for d in pool.forward + pool.backward if d}
    return keys


def template_text(key: str) -> str:
    """The wording of a template key, without its category (``"frame:please {x}"`` -> ``"please {x}"``)."""
    return key.split(":", 2)[-1] if key.startswith(("verb:", "noun:")) else key.split(":", 1)[1]


NOVEL_FILE = Path(__file__).resolve().parent / "novel" / "instructions.jsonl"


def novel_instructions() -> list[dict[str, str]]:
    """Instructions written by hand without looking at the pools (``novel/instructions.jsonl``), with
    the plan each asks for: the closest this course has to what a person would type."""
    return [json.loads(line) for line in NOVEL_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]


def training_key_phrases() -> set[str]:
    """The training pools' phrases of two or more words: whole verb and noun phrases, and the fixed
    parts of templates (``"i want you to"`` of ``"i want you to {x}"``)."""
    phrases = set()
    for key in pool_templates(TRAIN_POOL):
        text = template_text(key)
        parts = re.split(r"\{[a-z]+\}", text) if "{" in text else [text]
        phrases |= {p.strip(" ,.!?;:") for p in parts if len(p.strip(" ,.!?;:").split()) >= 2}
    return phrases


def shared_key_phrases(instruction: str, phrases: set[str] | None = None) -> list[str]:
    """The training key phrases that occur, as whole words, in the normalised ``instruction``."""
    text = " " + normalise(instruction) + " "
    return sorted(p for p in (phrases or training_key_phrases())
                  if re.search(r"(?<![a-z'])" + re.escape(p) + r"(?![a-z'])", text))
