"""Emotion label for each user message: angry, sad, neutral, happy or excited.

Two parts live here:

* ``EmotionClassifier`` - a plain, deterministic classifier with no Rasa dependency
  (the module imports Rasa only to define the component, and works without it).
* ``EmotionAnnotator`` - a Rasa 3.6 graph component that runs the classifier on every
  parsed message and adds ``"emotion"`` to the parse result, so the label reaches
  ``tracker.latest_message["emotion"]`` and from there the journey engine's touchpoint
  (``actions/tracker_reading.py``). In config.yml: ``- name: bot.nlu.emotion.EmotionAnnotator``.

Method
======
The label is a region of Russell's circumplex model of affect (valence x arousal),
refined by discrete emotion categories. Three kinds of evidence:

1. **Valence** in [-1, 1] - VADER (Hutto & Gilbert 2014, ``vaderSentiment``) compound
   score, which models negation ("not happy"), intensifiers ("extremely"), ALL-CAPS
   emphasis, "!!!" / "??" and contrast ("..., but ..."). Scored per sentence (mean of the
   sentences that carry any sentiment), with negation stopped at clause punctuation
   (VADER alone lets "I'm not angry, just disappointed" flip "disappointed"). VADER's
   lexicon is extended in our own analyser instance (package globals are untouched):

   - emoji valences (VADER only maps emoji to their CLDR names, so 😡 "pouting face"
     scores 0 and 🔥 "fire" scores negative),
   - multi-word expressions VADER cannot see, collapsed into one token before scoring
     ("can't wait" is not a negated "wait"; "thanks for nothing" is not thanks; "I'd
     like to" is a request, not liking; "let down", "fed up", "blown away", ...),
   - support-domain neutralisation: politeness, transaction and shop-topic words
     ("please", "yes", "ok", "cancel", "charged", "free", "help", "holiday", "gift", ...)
     carry no feeling in a support chat.

   Sarcasm-light: a message opening with bare positive interjection(s) ("great,",
   "Perfect. Just perfect.") whose remainder is negative or reports a repeat ("another
   delay", "charged twice again") is scored by its remainder, and counts as anger.
   Net NRC polarity nudges the valence by ``NRC_POLARITY_WEIGHT`` per word.

2. **Discrete emotions** - NRC Emotion Lexicon (Mohammad & Turney; bundled with
   ``nrclex``) categories anger, disgust, fear, sadness, joy, trust, anticipation,
   surprise, counted with ``NRCLex.load_token_list`` over lower-cased tokens from a
   small regex tokenizer (words in any script, emoji, emoticons, punctuation runs; the
   spaCy tokenizer was not used because importing spaCy here takes ~10 s - it pulls in
   TensorFlow via thinc - and tokenising costs ~0.1 ms per message). Tokens get light
   suffix normalisation when the surface form is unknown ("delays" -> "delay", "sadly"
   -> "sad", "yesss" -> "yes"), and conservative spelling correction towards
   affect-bearing words ("rediculous", "dissapointed", "thnks"; see ``_Resources.spell``).
   Tokens in a negation scope (a negator and the next three words, up to punctuation)
   contribute no category: NRC has no negation model, VADER carries the flipped valence.
   The bundled NRC file is a compact subset lacking words such as "sad", "great",
   "thanks", "worst", "scam"; a small documented supplement adds them. Shop topic words
   whose NRC tags come from other senses ("mug" = anger, "money" = joy, "delivery" =
   anticipation) are ignored, and "disappointed" is read as sadness only (disappointment
   is a sadness-family emotion, Shaver et al. 1987; NRC also tags anger and disgust).

3. **Arousal** in [0, 1] = ``1 - exp(-sum of cue weights)`` from surface cues:
   exclamation marks (0.3 for the first, 0.25 each for up to three more), "?!"/"??"
   (0.4), ALL-CAPS words other than acronyms in messages of 3+ words (0.45 each, up to
   1.2), intensifiers from VADER's booster list (0.15 each, up to 0.45), elongated words
   "yesss" (0.35 each, up to 0.7), a repeated word "love love love" (0.35), emoji (own
   weight each, up to 1.2), high-arousal words and interjections ("omg", "wow": 0.5;
   "thrilled", "furious": 0.6) and expressions ("can't wait": 0.7).

Decision rule (a three-level tree; each level is one binary decision)
---------------------------------------------------------------------
1. *Is there an emotion?*  strength = |valence|, plus, when the valence is not positive,
   complaint cues: 0.15 per repeated-contact marker ("again", "still", "always", "third
   time", "two weeks", "nobody", "in a row", up to 2), 0.3 for shouting (2+ ALL-CAPS
   words) and 0.3 for sarcasm. strength < ``NEUTRAL_STRENGTH`` -> **neutral**. So "where
   is my order" is neutral and "WHERE IS MY ORDER" is not.
2. *Which side?*  valence < 0, or valence <= 0.05 with complaint cues -> negative;
   else positive.
3. *Which quadrant?*
   - negative: anger evidence = NRC anger + 0.5 x disgust + 0.5 x repeated-contact
     markers (up to 2) + 0.3 x second-person words (up to 2: blame aimed at the company;
     in appraisal theory an other-caused negative event elicits anger, a
     circumstance-caused one sadness) + 1 for sarcasm + 1.5 x arousal; sadness evidence
     = NRC sadness + 0.5 x fear. anger > sadness -> **angry**, else **sad** (ties go to
     sad: with no arousal, blame or anger words, a complaint reads as disappointment).
   - positive: arousal >= ``EXCITED_AROUSAL`` -> **excited**, else **happy**.

``scores`` is the same tree made soft: each decision becomes a logistic probability of
its margin, and a label's score is the product along its path (the five sum to 1).
``label`` is the leaf reached by taking every decision at p >= 0.5, i.e. the tree
above; it is usually, but not always, the arg-max of ``scores``.

Thresholds were set on half of tests/data/emotion_labelled.csv; see
tests/unit/test_emotion.py and ``bench/emotion_eval.py`` for the measured figures.
Everything is deterministic; lexicons load once, lazily, on first use (thread-safe).
Text is analysed up to ``MAX_CHARS`` characters. ``classify`` never raises: any input
(None, numbers, empty, emoji-only, any script, 10,000 characters) returns a result.
"""
from __future__ import annotations

import logging
import math
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

logger = logging.getLogger(__name__)

LABELS: tuple[str, ...] = ("angry", "sad", "neutral", "happy", "excited")
NRC_EMOTIONS: tuple[str, ...] = ("anger", "disgust", "fear", "sadness", "joy", "trust", "anticipation", "surprise")

MAX_CHARS = 2000  # longer messages are analysed on their first MAX_CHARS characters

# --- decision thresholds (see module docstring) ---------------------------------------
NEUTRAL_STRENGTH = 0.2  # |valence| (+ complaint cues) below this -> neutral
EXCITED_AROUSAL = 0.4  # positive messages at or above this arousal -> excited
NRC_POLARITY_WEIGHT = 0.08  # valence nudge per net NRC positive/negative word
# logistic temperatures turning decision margins into the soft `scores`
_T_STRENGTH, _T_SIDE, _T_QUADRANT, _T_AROUSAL = 0.08, 0.1, 0.5, 0.1

# --- emoji: VADER valence (-4..4), NRC-style categories, arousal weight ----------------
_EMOJI: dict[str, tuple[float, tuple[str, ...], float]] = {
    # anger / contempt
    "😡": (-2.8, ("anger",), 0.6),
    "🤬": (-3.2, ("anger", "disgust"), 0.8),
    "😠": (-2.5, ("anger",), 0.5),
    "😤": (-2.0, ("anger",), 0.5),
    "👿": (-2.5, ("anger",), 0.5),
    "💢": (-2.0, ("anger",), 0.5),
    "🖕": (-3.0, ("anger", "disgust"), 0.7),
    "🙄": (-1.2, ("disgust",), 0.1),
    "👎": (-1.8, ("disgust",), 0.1),
    # sadness / worry
    "😢": (-2.2, ("sadness",), 0.0),
    "😭": (-2.6, ("sadness",), 0.2),
    "😞": (-2.0, ("sadness",), 0.0),
    "😔": (-1.8, ("sadness",), 0.0),
    "😟": (-1.5, ("fear", "sadness"), 0.1),
    "😥": (-1.6, ("sadness",), 0.0),
    "😩": (-2.0, ("sadness",), 0.2),
    "😫": (-2.0, ("sadness",), 0.3),
    "😕": (-1.0, ("sadness",), 0.0),
    "🙁": (-1.6, ("sadness",), 0.0),
    "☹": (-1.8, ("sadness",), 0.0),
    "💔": (-2.5, ("sadness",), 0.1),
    "😰": (-1.8, ("fear",), 0.3),
    "😨": (-1.8, ("fear",), 0.4),
    "😱": (-1.5, ("fear", "surprise"), 0.7),
    # contentment
    "🙂": (1.5, ("joy",), 0.0),
    "😊": (2.0, ("joy",), 0.1),
    "☺": (2.0, ("joy",), 0.1),
    "😀": (2.0, ("joy",), 0.2),
    "😃": (2.2, ("joy",), 0.3),
    "😄": (2.3, ("joy",), 0.3),
    "😁": (2.3, ("joy",), 0.3),
    "😌": (1.2, ("joy",), 0.0),
    "😋": (2.0, ("joy",), 0.2),
    "🤗": (2.0, ("joy", "trust"), 0.2),
    "👍": (1.8, ("joy", "trust"), 0.0),
    "👌": (1.6, ("joy",), 0.0),
    "🙏": (1.5, ("trust",), 0.0),
    "👏": (2.0, ("joy",), 0.3),
    "❤": (2.5, ("joy",), 0.1),
    "💕": (2.5, ("joy",), 0.2),
    "💖": (2.5, ("joy",), 0.3),
    "✨": (1.5, ("joy",), 0.3),
    # greetings / objects: no emotion (VADER would score "waving hand" as positive)
    "👋": (0.0, (), 0.0),
    "☕": (0.0, (), 0.0),
    # excitement
    "😍": (2.8, ("joy",), 0.5),
    "🤩": (3.0, ("joy", "surprise"), 0.7),
    "🥳": (3.0, ("joy", "anticipation"), 0.7),
    "🎉": (2.5, ("joy", "anticipation"), 0.6),
    "🎊": (2.5, ("joy", "anticipation"), 0.6),
    "🔥": (2.0, ("anticipation",), 0.5),
    "🙌": (2.4, ("joy",), 0.5),
    "💯": (2.0, ("joy", "trust"), 0.4),
    "🚀": (2.0, ("anticipation",), 0.5),
    "😆": (2.3, ("joy",), 0.4),
}

# --- multi-word expressions: regex -> (VADER valence, NRC-style categories, arousal) ---
# Collapsed into one token before VADER scores the text, so negation inside the phrase
# ("can't wait") is not applied to the rest of it, and counted as NRC categories.
_PHRASES: tuple[tuple[str, float, tuple[str, ...], float], ...] = (
    (r"\bcan'?t stop smiling", 2.8, ("joy",), 0.4),
    (r"\b(?:can'?t|cannot|can not) wait", 2.5, ("anticipation", "joy"), 0.7),
    (r"\b(?:can'?t|cannot|can not) believe", 0.0, ("surprise",), 0.4),
    (r"\blooking forward", 2.0, ("anticipation", "joy"), 0.2),
    (r"\bcounting down", 1.5, ("anticipation",), 0.3),
    (r"\bblown away", 2.8, ("surprise", "joy"), 0.7),
    (r"\bmade my (?:\w+ )?(?:day|week|morning|month|year)", 2.8, ("joy",), 0.4),
    (r"\blet'?s go+\b", 1.5, ("anticipation",), 0.5),
    (r"\bsign me up", 1.5, ("anticipation",), 0.3),
    (r"\bdying to", 1.8, ("anticipation",), 0.7),
    (r"\bthanks for nothing", -2.8, ("anger",), 0.3),
    (r"\b(?:are|r) (?:you|u) (?:kidding|joking|serious)|got to be kidding|kidding me", -2.2, ("anger",), 0.5),
    (r"\bfed up", -2.3, ("anger",), 0.3),
    (r"\b(?:what|why|who|where|how) the (?:hell|heck|fuck)\b", -2.5, ("anger",), 0.5),
    (r"\bsick (?:of|and tired)", -2.3, ("anger", "disgust"), 0.3),
    (r"\bhad (?:it|enough)\b", -2.0, ("anger",), 0.3),
    (r"\bdone with (?:you|this|your)", -1.8, ("anger",), 0.2),
    (r"\brip-? ?off", -2.5, ("anger", "disgust"), 0.2),
    (r"\b(?:a|what a|total|complete|absolute) joke", -2.2, ("anger", "disgust"), 0.2),
    (r"\bwaste of (?:money|time)", -2.2, ("anger", "disgust"), 0.1),
    (r"\bone[- ]star", -2.0, ("anger",), 0.2),
    (r"\blet (?:me |us )?down|letdown", -1.9, ("sadness",), 0.0),
    (r"\boh well", -0.6, ("sadness",), 0.0),
    (r"\boh no\b", -1.2, ("sadness", "fear"), 0.1),
    (r"\bnot for me", -0.8, ("sadness",), 0.0),
    (r"\btoo bad", -1.2, ("sadness",), 0.0),
    (r"(?:\bwould|'d|\bwd) like", 0.0, (), 0.0),  # a request, not liking
    (r"\b(?:expected|deserve|hoped for) (?:better|more)", -1.5, ("sadness",), 0.0),
)

# --- lexicon supplements --------------------------------------------------------------
# NRC categories for words missing from the compact NRC file bundled with nrclex, or
# whose support-context reading it lacks (added by union).
_NRC_SUPPLEMENT: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("unacceptable", "useless", "pathetic", "outrageous", "worst", "scam", "annoyed", "annoy", "pissed", "ignored", "ignoring", "ignore", "wtf", "nonsense", "incompetent", "rubbish", "garbage", "liar", "lied", "lies", "cheated", "robbed", "shocking", "appalling", "disgrace", "livid", "outraged", "unprofessional", "clueless", "damn", "horrible", "disgusted", "frustrating"), ("anger",)),
    **dict.fromkeys(("sad", "unfortunately", "gutted", "bummed", "bummer", "heartbroken", "devastated", "sigh", "regret", "miss", "cry", "crying", "tears", "depressing", "sorrow", "shame", "pity"), ("sadness",)),
    **dict.fromkeys(("scared", "nervous", "worry", "concerned"), ("fear",)),
    **dict.fromkeys(("thanks", "thank", "thx", "ty", "cheers", "appreciate", "appreciated", "great", "awesome", "amazing", "fantastic", "nice", "loves", "loved", "enjoying", "superb", "excellent", "wonderful", "yummy", "tasty"), ("joy",)),
    **dict.fromkeys(("exciting", "excitement", "thrilled", "stoked", "pumped", "yay", "woohoo", "hooray", "hurray", "yippee", "omg", "wow", "whoa", "woah", "incredible", "unreal", "unbelievable"), ("joy", "anticipation", "surprise")),
}
# Words whose NRC tags are replaced: disappointment is a sadness-family emotion
# (Shaver et al. 1987), while NRC also tags it anger and disgust.
_NRC_OVERRIDE: dict[str, tuple[str, ...]] = {
    "disappointed": ("sadness", "negative"),
    "disappointing": ("sadness", "negative"),
    "disappointment": ("sadness", "negative"),
    "disappoint": ("sadness", "negative"),
    "just": (),  # "just" (fair) -> trust; here it is almost always the adverb
}
# Shop topic words: NRC tags them from other senses; in this domain they carry no emotion.
_TOPIC_WORDS = frozenset((
    "subscribe", "subscription", "plan", "account", "bank", "payment", "pay", "money", "exchange",
    "delivery", "deliver", "ship", "courier", "mail", "team", "time", "tomorrow", "gift", "present",
    "offer", "deal", "cancel", "skip", "change", "machine", "mug", "ground", "sugar", "job", "edition",
    "store", "limited", "holiday", "birthday", "friend", "coffee", "order", "box", "card", "post",
    "shop", "service", "return", "credit", "account", "premium", "basic",
))
# VADER: politeness and transaction vocabulary, emotionally empty in support messages.
_VADER_NEUTRAL = frozenset((
    "please", "yes", "no", "ok", "okay", "sure", "cancel", "free", "support", "help", "gift", "credit",
    "fair", "save", "share", "value", "reward", "rewards", "bonus", "special", "original", "active",
    "interest", "interested", "dear", "chance", "matter", "want", "welcome", "true", "promise",
    "promised", "strong", "rich", "bold", "pay", "stop", "limited", "easy", "holiday", "friend", "friends",
    "join", "honestly", "charge", "charged", "charges", "charging",
)) | _TOPIC_WORDS
_VADER_SUPPLEMENT: dict[str, float] = {
    "rubbish": -2.0, "robbed": -2.5, "gutted": -2.2, "bummed": -1.8, "bummer": -1.6, "stoked": 2.5,
    "pumped": 2.0, "yippee": 2.5, "ripoff": -2.5, "delays": -1.3, "delayed": -1.3, "problem": -0.5,
    "unprofessional": -2.0, "useless": -2.2, "omg": 1.5,
}

# High-arousal words (arousal cue weight each); cf. the arousal dimension of affect lexicons.
_AROUSAL_WORDS: dict[str, float] = {
    **dict.fromkeys(("omg", "wow", "whoa", "woah", "yay", "woohoo", "hooray", "hurray", "yippee", "eek", "ahh", "aah", "yess", "wtf"), 0.5),
    **dict.fromkeys(("excited", "exciting", "thrilled", "stoked", "pumped", "ecstatic", "furious", "livid", "outraged", "pissed", "obsessed", "screamed", "unreal"), 0.6),
}
_INTENSIFIER_EXTRA = frozenset(("super", "sooo", "soooo", "mega", "crazy", "insanely", "seriously"))
# Upper-case tokens that are names, not shouting.
_ACRONYMS = frozenset((
    "ok", "id", "uk", "us", "usa", "eu", "tv", "pm", "am", "ups", "dhl", "fedex", "faq", "vat", "pin",
    "cvv", "iban", "bic", "sms", "url", "pdf", "gdpr", "diy", "uv", "ai", "jb", "pr", "hr",
))

# Repeated-contact / escalation markers: the main driver of anger in support conversations.
_ESCALATION = tuple(re.compile(p) for p in (
    r"\b(?:again|yet another|once more|always|every (?:single )?time|constantly)\b",
    r"\bstill\b",
    r"\b(?:\d+|two|three|four|five|six|seven|eight|several|many|multiple)\s+(?:times|days|weeks|months|emails|calls|messages)\b",
    r"\b(?:second|third|fourth|fifth|umpteenth|nth|\d+(?:st|nd|rd|th))\s+time\b",
    r"\bhow many times\b",
    r"\bin a row\b",
    r"\b(?:nobody|no one|no-one|noone)\b",
    r"\b(?:immediately|asap)\b",
))
_REPEAT_RE = re.compile(r"\b(?:again|another|twice)\b")
_SECOND_PERSON = frozenset(("you", "your", "you're", "youre", "u", "ur", "yall", "y'all", "you've", "you'll"))
_NEGATORS = frozenset(("not", "no", "never", "n't", "without", "nothing", "nobody", "none", "neither", "nor",
                       "hardly", "barely"))
_SARCASM_OPENERS = frozenset((
    "great", "wonderful", "perfect", "lovely", "fantastic", "brilliant", "awesome", "nice", "excellent",
    "marvellous", "marvelous", "terrific", "super", "superb", "splendid", "fabulous", "amazing",
))
_SARCASM_FILLERS = frozenset(("oh", "just", "well", "yeah", "so", "how", "really", "simply", "absolutely"))

_EMOJI_CLASS = (
    "\U0001F000-\U0001FAFF"  # symbols & pictographs, emoticons, transport, supplemental
    "\u2600-\u27BF"  # misc symbols, dingbats
    "\u2B00-\u2BFF\u2300-\u23FF"
)
_TOKEN_RE = re.compile(
    r"(?P<emoticon>(?<!\w)[:;=][\-o']?[()\[\]dDpP/\\|*3]+(?!\w)|<3)"
    rf"|(?P<emoji>[{_EMOJI_CLASS}])"
    r"|(?P<word>[^\W_]+(?:['\-][^\W_]+)*)"
    r"|(?P<punct>[!?.,;:]+)"
)
_EMOJI_RE = re.compile(f"[{_EMOJI_CLASS}]")
_EMOJI_NOISE_RE = re.compile("[\uFE0E\uFE0F\u200D\U0001F3FB-\U0001F3FF]")  # variation selectors, ZWJ, skin tones
_ELONGATED_RE = re.compile(r"([a-z])\1\1")
_RUN3_RE = re.compile(r"([a-z])\1{2,}")
_RUN2_RE = re.compile(r"([a-z])\1+")
_CLAUSE_PUNCT_RE = re.compile(r"[,;:](?=\s)|\s[-\u2013\u2014]\s")
_CLAUSE_FILLER = r"\g<0> XXCLAUSEXX XXCLAUSEXX XXCLAUSEXX "
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+|\n+")
_ALPHA_WORD_RE = re.compile(r"(?<![\w'])[A-Za-z]+(?![\w'])")
_NEGATED_CONTRACTIONS = frozenset(("cant", "dont", "wont", "didnt", "isnt", "doesnt", "wasnt", "arent", "havent"))
_CLAUSE_BREAK_RE = re.compile(r"[,.!;:\u2026\u2014]+|\s-\s")


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


@dataclass(frozen=True)
class EmotionResult:
    """The emotion of one message."""

    label: str
    scores: dict[str, float] = field(default_factory=dict)
    valence: float = 0.0  # -1 (very negative) .. 1 (very positive)
    arousal: float = 0.0  # 0 (calm) .. 1 (agitated / thrilled)

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "scores": dict(self.scores), "valence": self.valence, "arousal": self.arousal}


NEUTRAL_RESULT = EmotionResult("neutral", {label: float(label == "neutral") for label in LABELS}, 0.0, 0.0)


@dataclass
class _Evidence:
    """Intermediate signals for one message (exposed by `EmotionClassifier.explain`)."""

    valence: float = 0.0
    vader: float = 0.0
    arousal: float = 0.0
    emotions: Counter = field(default_factory=Counter)
    polarity: int = 0  # NRC positive - negative word count
    escalation: int = 0
    second_person: int = 0
    caps_words: int = 0
    sarcasm: bool = False
    strength: float = 0.0
    anger_evidence: float = 0.0
    sadness_evidence: float = 0.0


class _Resources:
    """Lexicons, the customised VADER analyser and the spelling index, built once."""

    def __init__(self) -> None:
        from nrclex import NRCLex
        from vaderSentiment.vaderSentiment import BOOSTER_DICT, SentimentIntensityAnalyzer

        self.nrc_lexicon: dict[str, list[str]] = NRCLex(None).__lexicon__  # shared: never mutated
        self.nrc_factory = NRCLex
        self.known = set(self.nrc_lexicon) | set(_NRC_SUPPLEMENT) | set(_NRC_OVERRIDE)

        sia = SentimentIntensityAnalyzer()  # our own instance: changes stay local to it
        for word in _VADER_NEUTRAL:
            if word in sia.lexicon:
                sia.lexicon[word] = 0.0
        sia.lexicon.update(_VADER_SUPPLEMENT)
        for emoji, (valence, _, _) in _EMOJI.items():
            sia.emojis.pop(emoji, None)
            sia.lexicon[emoji] = valence
        self.phrase_info: list[tuple[str, tuple[str, ...], float]] = []
        alternatives = []
        for index, (pattern, valence, categories, arousal) in enumerate(_PHRASES):
            token = f"xxphrase{index}xx"
            sia.lexicon[token] = valence
            self.phrase_info.append((token, categories, arousal))
            alternatives.append(f"(?P<p{index}>{pattern})")
        self.phrase_re = re.compile("|".join(alternatives), re.IGNORECASE)
        self.sia = sia
        self.boosters = {w for w, v in BOOSTER_DICT.items() if v > 0 and " " not in w} | _INTENSIFIER_EXTRA

        # Spelling: affect-bearing words that a misspelt word may be corrected to.
        self.vocabulary = set(sia.lexicon) | self.known
        affect_words = {w for w, v in sia.lexicon.items() if abs(v) >= 1.0} | set(_NRC_SUPPLEMENT) | {
            w for w, cats in self.nrc_lexicon.items() if any(c in NRC_EMOTIONS for c in cats)
        }
        self.spell_words = frozenset(
            w for w in affect_words if w.isalpha() and len(w) >= 5 and w not in _TOPIC_WORDS and w not in _VADER_NEUTRAL
        )
        self._spell_cache: dict[str, str | None] = {}

    def spell(self, word: str) -> str | None:
        """The affect word that `word` (lower-case, unknown) misspells, if exactly one fits.

        Only the commonest slips are tried, never on the first or last letter (endings are
        inflection, handled by `_normalise`): a vowel missing ("thnks") or extra, a letter
        doubled or un-doubled ("terible", "angrry"), and for longer words two adjacent
        letters swapped (7+ letters), a vowel confused ("rediculous", 8+) or a doubling
        misplaced ("dissapointed"). Consonant substitutions and insertions are never
        tried: without a dictionary of correct words they turn real words into other
        ones ("charging" -> "charming", "roaster" -> "roadster").
        """
        if word in self._spell_cache:
            return self._spell_cache[word]
        n = len(word)
        edits = {word[:i] + v + word[i:] for i in range(1, n) for v in _VOWELS}
        edits |= {word[:i] + word[i] + word[i:] for i in range(1, n - 1)}
        edits |= {word[:i] + word[i + 1:] for i in range(1, n - 1) if word[i] in _VOWELS or word[i] == word[i + 1]}
        if n >= 7:
            edits |= {word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(1, n - 2)}
            for i in range(1, n - 1):
                if word[i] == word[i + 1]:  # move the doubling elsewhere
                    single = word[:i] + word[i + 1:]
                    edits |= {single[:j] + single[j] + single[j:] for j in range(1, len(single) - 1)}
        if n >= 8:
            edits |= {word[:i] + v + word[i + 1:] for i in range(1, n - 1) if word[i] in _VOWELS for v in _VOWELS}
        candidates = {e for e in edits if e in self.spell_words and e != word}
        fixed = candidates.pop() if len(candidates) == 1 else None
        if len(self._spell_cache) < 50_000:
            self._spell_cache[word] = fixed
        return fixed


_VOWELS = "aeiou"


_resources: _Resources | None = None
_resources_lock = threading.Lock()


def _get_resources() -> _Resources:
    global _resources
    if _resources is None:
        with _resources_lock:
            if _resources is None:
                _resources = _Resources()
    return _resources


def tokenize(text: str) -> list[tuple[str, str]]:
    """(kind, token) pairs: kind is emoticon, emoji, word or punct; case is kept."""
    return [(m.lastgroup or "punct", m.group()) for m in _TOKEN_RE.finditer(text)]


class EmotionClassifier:
    """Deterministic valence/arousal + NRC emotion classifier (see module docstring)."""

    labels = LABELS

    def classify(self, text: Any) -> EmotionResult:
        """The emotion of `text`; never raises (odd input gives a neutral result)."""
        try:
            if text is None:
                return NEUTRAL_RESULT
            if not isinstance(text, str):
                text = str(text)
            if not text.strip():
                return NEUTRAL_RESULT
            return self._decide(self._evidence(text))
        except Exception:  # pragma: no cover - defensive: an emotion label must never break a turn
            logger.exception("emotion classification failed; returning neutral")
            return NEUTRAL_RESULT

    def explain(self, text: str) -> dict[str, Any]:
        """The intermediate evidence for `text` (for debugging and the benchmark)."""
        evidence = self._evidence(text[:MAX_CHARS] if isinstance(text, str) else str(text))
        result = self._decide(evidence)
        out = dict(vars(evidence))
        out["emotions"] = dict(evidence.emotions)
        out["label"] = result.label
        return out

    # -- evidence ------------------------------------------------------------------------

    def _evidence(self, text: str) -> _Evidence:
        res = _get_resources()
        text = _EMOJI_NOISE_RE.sub("", text[:MAX_CHARS].replace("\u2019", "'").replace("\u2018", "'"))
        text = self._correct_spelling(text, res)
        ev = _Evidence()
        arousal_raw = 0.0

        # Multi-word expressions: replaced by their lexicon token (upper-case if typed in
        # capitals, for VADER's emphasis rule); their categories and arousal are counted.
        def _swap(m: re.Match[str]) -> str:
            group = m.lastgroup
            assert group is not None  # every alternative of the phrase pattern is a named group
            token, categories, arousal = res.phrase_info[int(group[1:])]
            ev.emotions.update(categories)
            nonlocal arousal_raw
            arousal_raw += arousal
            return f" {token.upper() if m.group().isupper() else token} "

        vader_text = res.phrase_re.sub(_swap, text)
        tokens = tokenize(vader_text)
        words = [tok for kind, tok in tokens if kind == "word"]
        lower_words = [tok.lower() for tok in words]

        # Emoji categories and arousal; spaced out so VADER scores each as a token.
        emoji_arousal = 0.0
        for kind, tok in tokens:
            if kind == "emoji" and tok in _EMOJI:
                _, categories, arousal = _EMOJI[tok]
                ev.emotions.update(categories)
                emoji_arousal += arousal
        arousal_raw += min(emoji_arousal, 1.2)
        vader_text = _EMOJI_RE.sub(r" \g<0> ", vader_text)

        # NRC categories over lower-cased, normalised tokens outside a negation scope
        # (a negator and the next three words, up to punctuation).
        nrc_tokens: list[str] = []
        negated_left = 0
        for kind, tok in tokens:
            if kind == "punct":
                negated_left = 0
                continue
            if kind != "word":
                continue
            low = tok.lower()
            if low in _NEGATORS or low.endswith("n't") or low in _NEGATED_CONTRACTIONS:
                negated_left = 3
                continue
            if negated_left:
                negated_left -= 1
                continue
            lemma = self._normalise(low, res)
            if lemma is None or lemma in _TOPIC_WORDS:
                continue
            if lemma in _NRC_OVERRIDE:
                categories = _NRC_OVERRIDE[lemma]
                ev.emotions.update(c for c in categories if c in NRC_EMOTIONS)
                ev.polarity += ("positive" in categories) - ("negative" in categories)
                continue
            if lemma in res.nrc_lexicon:
                nrc_tokens.append(lemma)
            supplement = _NRC_SUPPLEMENT.get(lemma, ())
            for category in supplement:
                if category not in res.nrc_lexicon.get(lemma, ()):
                    ev.emotions[category] += 1
            if supplement and lemma not in res.nrc_lexicon:  # polarity as NRC would tag it
                ev.polarity += 1 if "joy" in supplement else -1
        if nrc_tokens:
            nrc = res.nrc_factory(None)
            nrc.load_token_list(nrc_tokens)
            raw = nrc.raw_emotion_scores
            ev.polarity += int(raw.get("positive", 0)) - int(raw.get("negative", 0))
            ev.emotions.update({k: v for k, v in raw.items() if k in NRC_EMOTIONS})

        # Arousal cues.
        exclamations = text.count("!")
        if exclamations:
            arousal_raw += 0.3 + 0.25 * (min(exclamations, 4) - 1)
        if "?!" in text or "!?" in text or "??" in text:
            arousal_raw += 0.4
        # ALL-CAPS words are shouting, except acronyms and one- or two-word messages ("HI").
        caps = [w for w in words if len(w) >= 2 and w.isupper() and w.isalpha() and w.lower() not in _ACRONYMS]
        ev.caps_words = len(caps) if len(words) > 2 else 0
        arousal_raw += min(0.45 * ev.caps_words, 1.2)
        arousal_raw += min(0.15 * sum(1 for w in lower_words if w in res.boosters), 0.45)
        arousal_raw += min(0.35 * sum(1 for w in lower_words if _ELONGATED_RE.search(w)), 0.7)
        arousal_raw += min(sum(_AROUSAL_WORDS.get(self._squeeze(w), 0.0) for w in lower_words), 1.0)
        if any(a == b and a.isalpha() and len(a) > 2 for a, b in pairwise(lower_words)):
            arousal_raw += 0.35  # "love love love"
        ev.arousal = 1.0 - math.exp(-arousal_raw)

        # Complaint cues.
        lower_text = " ".join(lower_words)
        ev.escalation = sum(1 for regex in _ESCALATION if regex.search(lower_text))
        ev.second_person = sum(1 for w in lower_words if w in _SECOND_PERSON)

        # Valence: VADER per sentence (its negation must not cross a full stop), mean of the
        # sentences that carry any; sarcasm-aware; nudged by NRC polarity.
        ev.vader = self._vader(vader_text, res)
        valence = ev.vader
        remainder = self._sarcastic_remainder(vader_text)
        if remainder is not None:
            rest = self._vader(remainder, res)
            if rest < -0.05 or (rest <= 0.05 and _REPEAT_RE.search(remainder.lower())):
                ev.sarcasm = True
                valence = min(rest, -0.3)
        valence += NRC_POLARITY_WEIGHT * max(-3, min(3, ev.polarity))
        ev.valence = max(-1.0, min(1.0, valence))
        return ev

    @staticmethod
    def _vader(text: str, res: _Resources) -> float:
        # VADER looks three words back for a negator, across commas too ("I'm not angry,
        # just disappointed" would flip "disappointed"); neutral filler tokens after clause
        # punctuation end the scope there. Fillers are upper-case so they never make an
        # all-caps message look like mixed case (VADER's caps-emphasis rule).
        text = _CLAUSE_PUNCT_RE.sub(_CLAUSE_FILLER, text)
        compounds = [res.sia.polarity_scores(s)["compound"] for s in _SENTENCE_RE.split(text) if s.strip()]
        compounds = [c for c in compounds if c != 0.0]
        return sum(compounds) / len(compounds) if compounds else 0.0

    def _correct_spelling(self, text: str, res: _Resources) -> str:
        def fix(m: re.Match[str]) -> str:
            word = m.group()
            low = word.lower()
            if not 5 <= len(low) <= 20 or low in res.vocabulary or self._normalise(low, res) is not None:
                return word
            fixed = res.spell(low)
            if fixed is None:
                return word
            return fixed.upper() if word.isupper() else fixed

        return _ALPHA_WORD_RE.sub(fix, text)

    @staticmethod
    def _squeeze(word: str) -> str:
        """Collapse letter runs of 3+ to 2 ("yesss" -> "yess", "sooo" -> "soo")."""
        return _RUN3_RE.sub(r"\1\1", word) if _ELONGATED_RE.search(word) else word

    def _normalise(self, word: str, res: _Resources) -> str | None:
        """The lexicon form of `word`, trying light suffix rules; None if none is known."""
        if word in res.known:
            return word
        candidates = []
        squeezed = self._squeeze(word)
        if squeezed != word:
            candidates += [squeezed, _RUN2_RE.sub(r"\1", word)]
        for suffix, replacements in (
            ("ies", ("y",)), ("ied", ("y",)), ("ing", ("", "e")), ("ed", ("", "e")), ("es", ("", "e")),
            ("s", ("",)), ("ly", ("", "le")), ("ness", ("",)),
        ):
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                stem = word[: -len(suffix)]
                for replacement in replacements:
                    candidates.append(stem + replacement)
                if suffix in ("ing", "ed") and len(stem) >= 4 and stem[-1] == stem[-2]:
                    candidates.append(stem[:-1])  # stopped -> stop
        for candidate in candidates:
            if candidate in res.known:
                return candidate
        return None

    @staticmethod
    def _sarcastic_remainder(text: str) -> str | None:
        """If `text` opens with bare positive interjection clause(s), the rest of it."""
        rest = text.strip()
        stripped = False
        while True:
            parts = _CLAUSE_BREAK_RE.split(rest, maxsplit=1)
            if len(parts) < 2:
                break
            head = [w.lower() for w in re.findall(r"[^\W_]+", parts[0])]
            if head and any(w in _SARCASM_OPENERS for w in head) and all(
                w in _SARCASM_OPENERS or w in _SARCASM_FILLERS for w in head
            ):
                rest = parts[1].strip()
                stripped = True
                continue
            break
        return rest if stripped and rest else None

    # -- decision ------------------------------------------------------------------------

    def _decide(self, ev: _Evidence) -> EmotionResult:
        not_positive = ev.valence <= 0.05
        complaint_cues = 0.0
        if not_positive:
            complaint_cues = 0.15 * min(ev.escalation, 2) + (0.3 if ev.caps_words >= 2 else 0.0)
            if ev.sarcasm:
                complaint_cues += 0.3
        ev.strength = abs(ev.valence) + complaint_cues

        emotions = ev.emotions
        ev.anger_evidence = (
            emotions["anger"] + 0.5 * emotions["disgust"] + 0.5 * min(ev.escalation, 2)
            + 0.3 * min(ev.second_person, 2) + (1.0 if ev.sarcasm else 0.0) + 1.5 * ev.arousal
        )
        ev.sadness_evidence = emotions["sadness"] + 0.5 * emotions["fear"]

        # complaint cues only exist when the valence is not positive; they make it negative
        side = min(ev.valence, -complaint_cues) if complaint_cues else ev.valence
        p_emotion = _sigmoid((ev.strength - NEUTRAL_STRENGTH) / _T_STRENGTH)
        p_negative = _sigmoid(-side / _T_SIDE) if side != 0 else 0.5
        p_angry = _sigmoid((ev.anger_evidence - ev.sadness_evidence) / _T_QUADRANT)
        p_excited = _sigmoid((ev.arousal - EXCITED_AROUSAL) / _T_AROUSAL)
        scores = {
            "angry": p_emotion * p_negative * p_angry,
            "sad": p_emotion * p_negative * (1 - p_angry),
            "neutral": 1 - p_emotion,
            "happy": p_emotion * (1 - p_negative) * (1 - p_excited),
            "excited": p_emotion * (1 - p_negative) * p_excited,
        }

        if ev.strength < NEUTRAL_STRENGTH or side == 0:
            label = "neutral"
        elif side < 0:
            label = "angry" if ev.anger_evidence > ev.sadness_evidence else "sad"
        else:
            label = "excited" if ev.arousal >= EXCITED_AROUSAL else "happy"
        return EmotionResult(
            label=label,
            scores={k: round(v, 4) for k, v in scores.items()},
            valence=round(ev.valence, 4),
            arousal=round(ev.arousal, 4),
        )


# ----------------------------------------------------------------------------------------
# Rasa graph component
# ----------------------------------------------------------------------------------------

try:  # the classifier above is usable without Rasa installed
    from rasa.engine.graph import ExecutionContext, GraphComponent
    from rasa.engine.recipes.default_recipe import DefaultV1Recipe
    from rasa.engine.storage.resource import Resource
    from rasa.engine.storage.storage import ModelStorage
    from rasa.shared.nlu.constants import TEXT
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData
except ImportError:  # pragma: no cover
    GraphComponent = None

EMOTION = "emotion"

if GraphComponent is not None:

    @DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
    class EmotionAnnotator(GraphComponent):
        """Adds ``emotion`` = {label, scores, valence, arousal} to every parsed message.

        Non-trainable: it needs no training data and persists nothing. In config.yml:
        ``- name: bot.nlu.emotion.EmotionAnnotator`` (anywhere in the pipeline; it only
        reads the message text).
        """

        def __init__(self, config: dict[str, Any], classifier: EmotionClassifier | None = None) -> None:
            self._config = config
            self._classifier = classifier or EmotionClassifier()

        @staticmethod
        def get_default_config() -> dict[str, Any]:
            return {}

        @classmethod
        def create(
            cls,
            config: dict[str, Any],
            model_storage: ModelStorage,
            resource: Resource,
            execution_context: ExecutionContext,
        ) -> EmotionAnnotator:
            return cls(config)

        def process(self, messages: list[Message]) -> list[Message]:
            for message in messages:
                text = message.get(TEXT)
                result = self._classifier.classify(text if isinstance(text, str) else "")
                message.set(EMOTION, result.as_dict(), add_to_output=True)
            return messages

        def process_training_data(self, training_data: TrainingData) -> TrainingData:
            return training_data
