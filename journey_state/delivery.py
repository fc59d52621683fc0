"""Delivery questions that name a place, answered from catalog.yml's delivery areas.

"Do you deliver to Hamburg?" resolves Hamburg to Germany (journey_state/places.py) and
answers with Germany's terms; "Canada" gets a no with the areas delivered to; a place the
gazetteer does not know gets the question which country it is, with the same list, so the
customer is never told only "tell me your country".

The gazetteer is built on first use (or by `warm`, which the action server calls at start):
it takes about two seconds and 60 MB, which processes that never answer a customer (the
console, the Rasa server's channels, each CLI command) should not pay.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from journey_state.catalog import Catalog, DeliveryArea
from journey_state.places import Gazetteer, Place, PlaceKind, place_key

DELIVERY_INTENT = "ask_delivery_area"
# Other delivery questions that become this one when they name a place: Bitext labels "do you
# ship to Munich?" delivery_options, and "how long to Vienna?" is about that place's days.
PLACE_DELIVERY_INTENTS = frozenset({"delivery_options", "delivery_period"})
# Not-understood intents: a bare place name ("Lyon") is still a delivery question for a shop.
_UNSURE_INTENTS = frozenset({"nlu_fallback", "out_of_scope"})
# Words a short follow-up may open with before the place: "and Vienna?", "what about Lyon".
_FOLLOW_UP_OPENERS = frozenset({"and", "or", "what", "how", "about", "also", "then", "ok", "okay", "so", "but", "to", "in"})
MAX_FOLLOW_UP_WORDS = 6
# Below this the NLU's guess for a bare place name ("Lyon" as deny 0.40) is no answer to keep.
SURE_CONFIDENCE = 0.6
# Cities whose name is also an everyday reply: alone, "nice" or "reading" is not a delivery question.
_CHAT_WORDS = frozenset({"nice", "split", "reading", "mobile", "bath", "deal", "hope", "bridge", "orange", "victoria"})


@dataclass(frozen=True)
class DeliveryAnswer:
    """Which reply answers the question (replies.yml) and the values it is filled with."""

    answer_id: str
    values: Mapping[str, str] = field(default_factory=dict)
    place: Place | None = None


def _days(area: DeliveryArea) -> str:
    if area.days_min is None or area.days_max is None:
        return ""
    if area.days_min == area.days_max:
        return f"{area.days_min} working day{'s' if area.days_min != 1 else ''}"
    return f"{area.days_min}–{area.days_max} working days"


def _area_name(area: DeliveryArea) -> str:
    """The area's name mid-sentence: 'Switzerland' when it is a country's, else 'the rest of the European Union'."""
    if area.name in dict(area.countries).values() or area.name.casefold().startswith("the "):
        return area.name
    return f"the {area.name[:1].lower()}{area.name[1:]}"


def _join(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


class DeliveryDesk:
    """Answers delivery questions for the catalog's areas."""

    def __init__(self, catalog: Catalog, gazetteer: Callable[[], Gazetteer]):
        self.catalog = catalog
        self._make_gazetteer = gazetteer
        self._gazetteer: Gazetteer | None = None
        self._lock = threading.Lock()
        delivered = [a for a in catalog.delivery_areas if a.delivered]
        self.areas_text = _join([_area_name(a) for a in delivered]) if delivered else ""

    def warm(self) -> None:
        """Build the gazetteer now rather than on the first delivery question."""
        self.gazetteer()

    def gazetteer(self) -> Gazetteer:
        with self._lock:
            if self._gazetteer is None:
                self._gazetteer = self._make_gazetteer().with_names(self._catalog_names())
            return self._gazetteer

    def _catalog_names(self) -> dict[str, Place]:
        """The catalog's own names for its countries ('UK', 'Deutschland'), which the gazetteer may lack."""
        names: dict[str, Place] = {}
        for area in self.catalog.delivery_areas:
            if not area.countries:
                continue
            code, country = area.countries[0]
            place = Place(country, PlaceKind.COUNTRY, code, country)
            names.update(dict.fromkeys(area.aliases, place))
            names.update({name: Place(name, PlaceKind.COUNTRY, c, name) for c, name in area.countries})
        return names

    def answer_turn(
        self, intent: str | None, text: str, recent_intents: Sequence[str] = (), confidence: float = 1.0
    ) -> DeliveryAnswer | None:
        """The answer if this message is a delivery question, else None.

        It is one when the NLU says so, when another delivery question names a place ("do you
        ship to Munich?" as delivery_options), and when the message is only a place ("Vienna",
        "and Lyon?") that the NLU did not understand or that follows a delivery question.
        """
        if intent == DELIVERY_INTENT:
            return self.answer(text)
        if intent in PLACE_DELIVERY_INTENTS:
            named = self.gazetteer().find(text)
            return self.answer_for(named) if named is not None else None
        after_delivery = bool(recent_intents) and recent_intents[-1] in (DELIVERY_INTENT, *PLACE_DELIVERY_INTENTS)
        unsure = intent in _UNSURE_INTENTS or confidence < SURE_CONFIDENCE
        if unsure or after_delivery:
            place = self._bare_place(text, chat_words_allowed=after_delivery)
            if place is not None:
                return self.answer_for(place)
        return None

    def _bare_place(self, text: str, *, chat_words_allowed: bool) -> Place | None:
        words = place_key(text).split()
        if not words or len(words) > MAX_FOLLOW_UP_WORDS:
            return None
        while len(words) > 1 and words[0] in _FOLLOW_UP_OPENERS:
            words = words[1:]
        name = " ".join(words)
        if name in _CHAT_WORDS and not chat_words_allowed:
            return None
        return self.gazetteer().lookup(name)

    def answer(self, text: str) -> DeliveryAnswer:
        """The answer to a delivery question: for the place it names, or asking which country."""
        return self.answer_for(self.gazetteer().find(text))

    def answer_for(self, place: Place | None) -> DeliveryAnswer:
        if place is None:
            return DeliveryAnswer("delivery_place_unknown", {"areas": self.areas_text})
        # No area at all (a catalog without a fallback area) means the shop does not go there.
        area = self.catalog.delivery_area_for(place.country_code)
        country = dict(area.countries).get(place.country_code, place.country_name) if area else place.country_name
        label = country if place.kind is PlaceKind.COUNTRY or place.name == country else f"{place.name} ({country})"
        values = {"place": label, "country": country, "areas": self.areas_text, "note": area.note if area else ""}
        if area is None or not area.delivered:
            return DeliveryAnswer("delivery_place_no", values, place)
        cost = area.cost_text
        values["days"] = _days(area)
        values["cost"] = "delivery is free" if cost == "free" else f"delivery costs {cost}"
        return DeliveryAnswer("delivery_place_yes", values, place)
