"""Group unhandled messages by similarity, so an admin labels a kind of message once, not each copy.

scikit-learn is already in the lock (Rasa depends on it); rapidfuzz is not. Character n-gram
TF-IDF (within word boundaries) tolerates the typos and inflections of real traffic, and
average-linkage agglomerative clustering on cosine distance, cut at a distance threshold,
needs no number of groups up front: a one-off message stays alone, rewordings of one request
end up together. Identical texts (after normalising case and spaces) are merged before
clustering, so the quadratic step runs over distinct texts only.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from journey_state.review.heldout import normalise
from journey_state.store.reviews import UnhandledMessage

# Cosine distance below which two groups are merged (average linkage). Rewordings of one
# request ("where is my parcel" / "wheres my parcel??", "cancel my order" / "i want to cancel
# my order") sit near 0.3; different requests about one object ("cancel my order" / "my order
# is late") near 0.67, and one click labels a whole group, so the cut errs towards apart.
DISTANCE_THRESHOLD = 0.55


@dataclass(frozen=True)
class MessageGroup:
    messages: tuple[UnhandledMessage, ...]  # newest first

    @property
    def count(self) -> int:
        return len(self.messages)

    @property
    def newest(self) -> datetime:
        return self.messages[0].at

    @property
    def touchpoint_ids(self) -> list[int]:
        return [m.touchpoint_id for m in self.messages]

    @property
    def texts(self) -> list[tuple[str, int]]:
        """Distinct texts with how often each was sent, the most frequent (then newest) first."""
        counts = Counter(normalise(m.text) for m in self.messages)
        first: dict[str, str] = {}
        for m in self.messages:
            first.setdefault(normalise(m.text), m.text)
        return sorted(((first[k], n) for k, n in counts.items()), key=lambda item: -item[1])

    @property
    def channels(self) -> list[tuple[str, int]]:
        return Counter(m.channel for m in self.messages).most_common()

    @property
    def stages(self) -> list[tuple[str, int]]:
        return Counter(m.stage for m in self.messages).most_common()

    @property
    def reasons(self) -> list[tuple[str, int]]:
        return Counter(m.reason for m in self.messages).most_common()

    @property
    def guesses(self) -> list[str]:
        """The intents the model guessed for the low-confidence ones, most frequent first."""
        return [i for i, _ in Counter(m.intent for m in self.messages if m.intent and m.reason == "low confidence").most_common()]


def cluster_labels(texts: Sequence[str], threshold: float = DISTANCE_THRESHOLD) -> list[int]:
    """A cluster number per text (texts are distinct)."""
    if len(texts) < 2:
        return [0] * len(texts)
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_distances

    vectors = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True).fit_transform(texts)
    distances = cosine_distances(vectors)
    model = AgglomerativeClustering(n_clusters=None, affinity="precomputed", linkage="average", distance_threshold=threshold)
    return [int(label) for label in model.fit_predict(distances)]


def group_messages(messages: Sequence[UnhandledMessage], threshold: float = DISTANCE_THRESHOLD) -> list[MessageGroup]:
    """Similar messages together; groups newest first, messages in a group newest first."""
    by_text: dict[str, list[UnhandledMessage]] = {}
    for m in messages:
        by_text.setdefault(normalise(m.text), []).append(m)
    keys = list(by_text)
    members: dict[int, list[UnhandledMessage]] = {}
    for key, cluster in zip(keys, cluster_labels(keys, threshold), strict=True):
        members.setdefault(cluster, []).extend(by_text[key])
    groups = [MessageGroup(tuple(sorted(ms, key=lambda m: (m.at, m.touchpoint_id), reverse=True))) for ms in members.values()]
    return sorted(groups, key=lambda g: (g.newest, g.messages[0].touchpoint_id), reverse=True)
