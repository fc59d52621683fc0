"""Rule-based entities from the business catalog: products, order ids, emails, phone numbers.

`CatalogEntityExtractor` is a Rasa 3.6 graph component (an entity extractor that
needs no training). When the model is loaded it reads the catalog
(data/business/catalog.yml) and builds one spaCy pipeline: `spacy.blank("en")`
(a tokenizer only, nothing is downloaded) plus an `entity_ruler` holding

* product patterns: every product name and alias, whole words, case-insensitive
  (phrase patterns on the LOWER attribute); the entity value is the product id;
* order ids: the shop format `AUR-12345` (4-8 digits, also written "aur 12345",
  "AUR12345"), and plain 6-8 digit numbers right after "order", "purchase",
  "number", "#" ...; the value is always normalised to `AUR-<digits>`;
* emails: spaCy's LIKE_EMAIL (plus plus-addressing); the value is lower-cased;
* phone numbers in international form ("+49 151 1234 5678", "0049 151 ...",
  "+1 (555) 123-4567"); the value is E.164 (`journey_state.identifiers.normalise_phone`).
  National numbers, prices, dates, years and order ids are never phone numbers.

Entities are Rasa entity dicts with character offsets into the message text, so
`text[start:end]` is what the customer wrote and `value` is the normal form.

config.yml (after the intent classifier):

    - name: bot.nlu.entities.CatalogEntityExtractor
      catalog: data/business/catalog.yml   # relative to the working directory
      entities: [product, order_id, email, phone]
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_CONFIDENCE,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from journey_state.catalog import Catalog, load_catalog
from journey_state.identifiers import InvalidIdentifier, normalise_email, normalise_phone

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.pipeline import EntityRuler
    from spacy.tokenizer import Tokenizer
    from spacy.tokens import Doc, Span

logger = logging.getLogger(__name__)

PRODUCT = "product"
ORDER_ID = "order_id"
EMAIL = "email"
PHONE = "phone"
ENTITY_TYPES = (PRODUCT, ORDER_ID, EMAIL, PHONE)
DEFAULT_CATALOG = "data/business/catalog.yml"
ORDER_PREFIX = "AUR-"
# Longer messages are only scanned up to here (at a space): bounded time per message.
MAX_TEXT_CHARS = 20_000

# Pattern ids (the entity ruler's "id"), telling the post-processing how a span was found.
_ORDER_FORMAT = "order_format"      # AUR-12345, aur 12345
_ORDER_CONTEXT = "order_context"    # "order no. 123456": the context words are trimmed off
_EMAIL_RULE = "email_rule"
_PHONE_RULE = "phone_rule"

_ORDER_TOKEN = r"(?i)^aur-?\d{4,8}$"
_ORDER_DIGITS = r"^\d{4,8}$"
_PLAIN_ORDER_DIGITS = r"^(?!00)\d{5,8}$"  # "00..." starts an international phone number
_ORDER_ANCHORS = ["order", "orders", "purchase", "purchases", "number", "nr", "#"]
_ORDER_FILLERS = ["number", "no", "nr", "num", "#", "id", "ref", "reference", "is", "was", ":", ".", "-", "'s"]
_NUMBER_ANCHORS = {"number", "nr", "#"}
# "my number is ...", "phone number 123456": that number is not an order.
_NOT_ORDER_BEFORE = {
    "my", "your", "phone", "telephone", "tel", "mobile", "cell", "cellphone", "whatsapp",
    "contact", "call", "fax", "customer", "house", "flat", "street",
}
# An address inside a token: also "ann+coffee@example.com" and "mailto:ann@example.com" (trimmed to the address).
_EMAIL_IN_TOKEN = r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
_EMAIL_RE = re.compile(_EMAIL_IN_TOKEN)
_EMAIL_TOKEN = re.compile(f"^{_EMAIL_IN_TOKEN}$")
_PHONE_START = r"^(?:\+|00)[1-9]\d{0,14}(?:\.\d{1,14}){0,6}$"  # "+49", "0049", "+4915112345678", "+49.151.1234"
_PHONE_PART = re.compile(r"^(?:\d{1,14}(?:\.\d{1,14}){0,6}|[-()/]|\s+)$")
_PHONE_MAX_PARTS = 10  # tokens after the country code: "+1 (555) 123-4567" needs 6
_TRUNK_ZERO = re.compile(r"\(\s*0\s*\)")  # "+49 (0) 151 ...": the national 0 is dropped


def _product_patterns(catalog: Catalog) -> list[dict]:
    return [
        {"label": PRODUCT, "pattern": name, "id": product.id}
        for product in catalog.products
        for name in product.names
    ]


def _rule_patterns(entities: Iterable[str]) -> list[dict]:
    patterns: list[dict] = []
    if ORDER_ID in entities:
        digits = {"TEXT": {"REGEX": _ORDER_DIGITS}}
        filler = {"LOWER": {"IN": _ORDER_FILLERS}, "OP": "?"}
        patterns += [
            {"label": ORDER_ID, "id": _ORDER_FORMAT, "pattern": [{"TEXT": {"REGEX": _ORDER_TOKEN}}]},
            {"label": ORDER_ID, "id": _ORDER_FORMAT, "pattern": [{"LOWER": "aur"}, {"ORTH": "-", "OP": "?"}, digits]},
            {
                "label": ORDER_ID,
                "id": _ORDER_CONTEXT,
                "pattern": [
                    {"LOWER": {"IN": _ORDER_ANCHORS}},
                    filler,
                    filler,
                    filler,
                    {"TEXT": {"REGEX": _PLAIN_ORDER_DIGITS}},
                ],
            },
        ]
    if EMAIL in entities:
        patterns += [
            {"label": EMAIL, "id": _EMAIL_RULE, "pattern": [{"LIKE_EMAIL": True}]},
            {"label": EMAIL, "id": _EMAIL_RULE, "pattern": [{"TEXT": {"REGEX": _EMAIL_IN_TOKEN}}]},
        ]
    if PHONE in entities:
        # Only the start ("+49", "0049", "+4915112345678") is a pattern; the digit groups after it are
        # collected greedily in `CatalogEntityMatcher._phone` (linear, where optional matcher tokens are not).
        patterns.append({"label": PHONE, "id": _PHONE_RULE, "pattern": [{"TEXT": {"REGEX": _PHONE_START}}]})
    return patterns


def _tune_tokenizer(nlp: Language) -> None:
    """Adjust the English tokenizer so that emails, phone numbers and "order id" come out as tokens.

    * an email is one token even with capitals ("Ann.Lee@Example.COM" is otherwise split at the dots);
    * "(0)151" -> "(", "0", ")", "151";  "me:+4915..." -> "me", ":", "+4915...";  "151/1234" -> "151", "/", "1234";
    * "id" stays one token (English splits it like "I'd").
    """
    from spacy.symbols import ORTH
    from spacy.util import compile_infix_regex

    extra = [r"(?<=[0-9])[()](?=[0-9])", r"(?<=[^\W\d_]):(?=[+0-9])", r"(?<=[0-9])/(?=[0-9])"]
    tokenizer = cast("Tokenizer", nlp.tokenizer)  # spacy.blank("en") has the rule-based one
    tokenizer.infix_finditer = compile_infix_regex([*(nlp.Defaults.infixes or ()), *extra]).finditer
    tokenizer.token_match = _EMAIL_TOKEN.match
    for form in ("id", "Id", "ID"):
        tokenizer.add_special_case(form, [{ORTH: form}])


def build_nlp(catalog: Catalog, entities: Iterable[str] = ENTITY_TYPES) -> Language:
    """A blank English spaCy pipeline with an entity ruler for the catalog and the id rules."""
    import spacy

    entities = set(entities)
    nlp = spacy.blank("en")
    _tune_tokenizer(nlp)
    ruler = cast("EntityRuler", nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER", "validate": True}))
    patterns = _rule_patterns(entities)
    if PRODUCT in entities:
        patterns += _product_patterns(catalog)
    if patterns:
        ruler.add_patterns(patterns)
    return nlp


def _entity(start: int, end: int, entity: str, value: str) -> dict[str, Any]:
    """A Rasa entity dict; start and end are character offsets into the message text."""
    return {
        ENTITY_ATTRIBUTE_TYPE: entity,
        ENTITY_ATTRIBUTE_START: start,
        ENTITY_ATTRIBUTE_END: end,
        ENTITY_ATTRIBUTE_VALUE: value,
        ENTITY_ATTRIBUTE_CONFIDENCE: 1.0,
    }


class CatalogEntityMatcher:
    """The spaCy part, independent of Rasa: `extract(text)` returns Rasa entity dicts."""

    def __init__(self, catalog: Catalog, entities: Iterable[str] = ENTITY_TYPES):
        self.catalog = catalog
        self.entities = tuple(e for e in ENTITY_TYPES if e in set(entities))
        self.nlp = build_nlp(catalog, self.entities)

    def extract(self, text: Any) -> list[dict[str, Any]]:
        """Entities found in `text`, ordered by position. Never raises: odd input gives []."""
        if not isinstance(text, str) or not text.strip() or not self.entities:
            return []
        if len(text) > MAX_TEXT_CHARS:
            cut = text.rfind(" ", 0, MAX_TEXT_CHARS)
            text = text[: cut if cut > 0 else MAX_TEXT_CHARS]
        try:
            doc = self.nlp(text)
            found: list[dict[str, Any]] = []
            covered = 0  # a phone number grows past its span: later spans inside it are skipped
            for span in doc.ents:
                if span.start_char < covered:
                    continue
                entity = self._to_entity(doc, span, text)
                if entity is not None:
                    found.append(entity)
                    covered = max(covered, entity[ENTITY_ATTRIBUTE_END])
        except Exception:  # entity rules must never break a conversation
            logger.exception("CatalogEntityExtractor could not process a message of %d characters", len(text))
            return []
        return _without_overlaps(found)

    def _to_entity(self, doc: Doc, span: Span, text: str) -> dict[str, Any] | None:
        rule = span.ent_id_
        if span.label_ == PRODUCT:
            return _entity(span.start_char, span.end_char, PRODUCT, rule)
        if rule == _ORDER_FORMAT:
            digits = re.sub(r"\D", "", span.text)
            return _entity(span.start_char, span.end_char, ORDER_ID, ORDER_PREFIX + digits)
        if rule == _ORDER_CONTEXT:
            return self._order_from_context(doc, span)
        if rule == _EMAIL_RULE:
            return self._email(span)
        if rule == _PHONE_RULE:
            return self._phone(doc, span, text)
        return None

    @staticmethod
    def _order_from_context(doc: Doc, span: Span) -> dict[str, Any] | None:
        anchor, number = span[0], span[-1]
        if anchor.lower_ in _NUMBER_ANCHORS and span.start > 0 and doc[span.start - 1].lower_ in _NOT_ORDER_BEFORE:
            return None
        end = number.idx + len(number.text)
        return _entity(number.idx, end, ORDER_ID, ORDER_PREFIX + number.text)

    @staticmethod
    def _email(span: Span) -> dict[str, Any] | None:
        match = _EMAIL_RE.search(span.text)
        if not match:
            return None
        try:
            value = normalise_email(match.group())
        except InvalidIdentifier:
            return None
        start = span.start_char + match.start()
        return _entity(start, start + len(match.group()), EMAIL, value)

    @staticmethod
    def _phone(doc: Doc, span: Span, text: str) -> dict[str, Any] | None:
        tokens = [span[0]]
        i = span.end
        while i < len(doc) and len(tokens) <= _PHONE_MAX_PARTS and _is_phone_part(doc, i):
            tokens.append(doc[i])
            i += 1
        while tokens:  # the longest run (ending in digits) that is a valid international number
            last = tokens[-1].text
            if last[-1:].isdigit():
                start, end = tokens[0].idx, tokens[-1].idx + len(last)
                try:
                    return _entity(start, end, PHONE, normalise_phone(_TRUNK_ZERO.sub("", text[start:end])))
                except InvalidIdentifier:
                    pass
            tokens.pop()
        return None


def _is_phone_part(doc: Doc, i: int) -> bool:
    """A digit group or separator continuing a phone number; a dot only inside "151.1234.5678"."""
    token = doc[i]
    if token.text == ".":
        return not doc[i - 1].whitespace_ and not token.whitespace_ and i + 1 < len(doc) and doc[i + 1].is_digit
    return bool(_PHONE_PART.match(token.text))


def _without_overlaps(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ordered by start; where two overlap (a phone number grown over a later match) the earlier one wins."""
    kept: list[dict[str, Any]] = []
    for entity in sorted(entities, key=lambda e: (e[ENTITY_ATTRIBUTE_START], -e[ENTITY_ATTRIBUTE_END])):
        if not kept or entity[ENTITY_ATTRIBUTE_START] >= kept[-1][ENTITY_ATTRIBUTE_END]:
            kept.append(entity)
    return kept


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class CatalogEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Extracts product, order_id, email and phone entities with spaCy rules built from the catalog."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """The component's default config (see parent class for full docstring)."""
        return {
            # the business catalog; a relative path is relative to the working directory
            "catalog": DEFAULT_CATALOG,
            # which entities to extract
            "entities": list(ENTITY_TYPES),
        }

    @staticmethod
    def required_packages() -> list[str]:
        """Lists required dependencies (see parent class for full docstring)."""
        return ["spacy"]

    def __init__(self, config: dict[str, Any], matcher: CatalogEntityMatcher) -> None:
        self._config = config
        self.matcher = matcher

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> CatalogEntityExtractor:
        """Loads the catalog and builds the spaCy pipeline (see parent class for full docstring)."""
        config = {**cls.get_default_config(), **config}
        entities = cls._validated_entities(config.get("entities"))
        catalog_path = config.get("catalog")
        if not isinstance(catalog_path, str) or not catalog_path.strip():
            raise InvalidConfigException(f"{cls.__name__}: catalog: must be the path of the catalog YAML file")
        path = Path(catalog_path)
        if not path.is_absolute():
            path = Path.cwd() / path
        catalog = load_catalog(path)  # CatalogError names the file and key
        return cls(config, CatalogEntityMatcher(catalog, entities))

    @classmethod
    def _validated_entities(cls, entities: Any) -> list[str]:
        if isinstance(entities, str):
            entities = [entities]
        if not isinstance(entities, list) or not all(isinstance(e, str) for e in entities):
            raise InvalidConfigException(
                f"{cls.__name__}: entities: must be a list, choose from {', '.join(ENTITY_TYPES)}"
            )
        unknown = [e for e in entities if e not in ENTITY_TYPES]
        if unknown:
            raise InvalidConfigException(
                f"{cls.__name__}: entities: unknown entity {unknown[0]!r} (choose from {', '.join(ENTITY_TYPES)})"
            )
        return entities

    @property
    def catalog(self) -> Catalog:
        return self.matcher.catalog

    def process(self, messages: list[Message]) -> list[Message]:
        """Adds the entities found in each message's text to its `entities`."""
        for message in messages:
            extracted = self.add_extractor_name(self.matcher.extract(message.get(TEXT)))
            message.set(ENTITIES, message.get(ENTITIES, []) + extracted, add_to_output=True)
        return messages
