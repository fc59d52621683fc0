"""Checkout links (journey_state/checkout): configuration, issue and resend, open, paid, timed out, and the chat's answer."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from journey_state.business_config import load_business_config
from journey_state.business_events import BusinessEvent
from journey_state.catalog import load_catalog
from journey_state.checkout.answer import CheckoutFlow
from journey_state.checkout.config import CheckoutSettings
from journey_state.checkout.links import CheckoutLinks
from journey_state.commerce.config import CommerceConfigError, load_commerce_config
from journey_state.event_ingestion import EventIngestion
from journey_state.identifiers import ChannelRef, identifier
from journey_state.loyalty import load_loyalty
from journey_state.model import load_named_model
from journey_state.store import JourneyStore, make_engine
from journey_state.store.checkout_tables import checkout_links
from journey_state.store.tables import business_events

PROJECT = Path(__file__).resolve().parents[2]
BUSINESS = PROJECT / "data" / "business"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
ALICE = ChannelRef("rest", "alice")
BOB = ChannelRef("telegram", "555")
PREMIUM = "https://shop.example/checkout?plan=premium&ref={token}"
SETTINGS = CheckoutSettings({"premium": PREMIUM, "basic": "https://shop.example/basic"}, timedelta(hours=2))


@pytest.fixture
def store(migrated_url):
    engine = make_engine(migrated_url)
    yield JourneyStore(engine, load_named_model(PROJECT / "data" / "journeys", "b2c"))
    engine.dispose()


@pytest.fixture
def links(store) -> CheckoutLinks:
    return CheckoutLinks(store, SETTINGS)


def events_of(store: JourneyStore, who: ChannelRef) -> list[tuple[str, dict]]:
    uid = store.contact_by_identity(who)["id"]
    return [(e["event_type"], e["payload"]) for e in store.timeline(uid) if e["type"] == "business_event"]


def link_row(store: JourneyStore, token: str):
    with store.engine.connect() as conn:
        return conn.execute(select(checkout_links).where(checkout_links.c.token == token)).one()


# -- configuration ---------------------------------------------------------------------------


def write(tmp_path: Path, checkout) -> Path:
    path = tmp_path / "commerce.yml"
    path.write_text(yaml.safe_dump({"backend": "demo", "checkout": checkout}), encoding="utf-8")
    return path


def test_the_shipped_commerce_file_has_a_link_for_every_plan():
    config = load_business_config(BUSINESS, PROJECT / "data" / "journeys")
    plans = {p.id for p in config.catalog if p.is_plan}
    assert plans and plans <= set(config.commerce.checkout.links)
    assert config.commerce.checkout.target("premium", "abc").endswith("plan=premium&ref=abc")


@pytest.mark.parametrize(
    ("checkout", "key", "says"),
    [
        ({"links": {"premium": "javascript:alert(1)//{token}"}}, "checkout.links", "absolute http(s) URL"),
        ({"links": {"premium": "/relative?ref={token}"}}, "checkout.links", "absolute http(s) URL"),
        ({"links": {"premium": "https://shop.example/?u={url}"}}, "checkout.links", "only placeholder allowed is {token}"),
        ({"links": {"premium": "https://shop.example/{token}/{token}"}}, "checkout.links", "only placeholder allowed is {token}"),
        ({"links": {"premium": "https://shop.example/{token"}}, "checkout.links", "bad placeholder"),
        ({"links": {"premium": "https://shop.example/a b"}}, "checkout.links", "white space"),
        ({"links": {"Premium Plan": "https://shop.example/"}}, "checkout.links", "not a product id"),
        ({"links": ["https://shop.example/"]}, "checkout.links", "expected a mapping"),
        ({"expire_after_hours": 0}, "checkout.expire_after_hours", "above 0"),
        ({"expire_after_hours": True}, "checkout.expire_after_hours", "above 0"),
        ({"person_from_amount": -5}, "checkout.person_from_amount", "positive price"),
        ({"link": {}}, "checkout.link", "unknown key"),
    ],
)
def test_bad_checkout_settings_name_file_and_key(tmp_path, checkout, key, says):
    path = write(tmp_path, checkout)
    with pytest.raises(CommerceConfigError) as excinfo:
        load_commerce_config(path)
    message = str(excinfo.value)
    assert message.startswith(f"{path}: {key}: ") and says in message, message


def test_a_link_for_a_product_the_catalog_does_not_sell_is_refused(tmp_path):
    business = tmp_path / "business"
    business.mkdir()
    for item in BUSINESS.iterdir():
        (business / item.name).write_bytes(item.read_bytes())
    data = yaml.safe_load((business / "commerce.yml").read_text(encoding="utf-8"))
    data["checkout"]["links"]["premum"] = PREMIUM
    (business / "commerce.yml").write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(CommerceConfigError, match=r"commerce\.yml: checkout\.links\.premum: unknown product 'premum' \(catalog\.yml has basic, premium"):
        load_business_config(business, PROJECT / "data" / "journeys")


def test_the_token_is_quoted_into_the_template():
    assert SETTINGS.target("premium", "a&b=c") == "https://shop.example/checkout?plan=premium&ref=a%26b%3Dc"
    assert SETTINGS.target("basic", "tok") == "https://shop.example/basic"
    assert SETTINGS.target("grinder", "tok") is None


# -- links -----------------------------------------------------------------------------------


def test_asking_again_resends_the_same_link_and_tokens_are_unguessable(links, store):
    first = links.issue(ALICE, "rest", "premium", T0)
    again = links.issue(ALICE, "rest", "premium", T0 + timedelta(minutes=5))
    other = links.issue(BOB, "telegram", "premium", T0)
    assert again.token == first.token and again.sent_count == 2 and first.sent_count == 1
    assert other.token != first.token and len(first.token) >= 32
    assert links.resend(ALICE, T0 + timedelta(minutes=6)).token == first.token
    assert links.resend(ChannelRef("rest", "nobody"), T0) is None
    # A link for another product is another link; "where's the link?" gives the newest.
    basic = links.issue(ALICE, "rest", "basic", T0 + timedelta(minutes=7))
    assert basic.token != first.token and links.resend(ALICE, T0 + timedelta(minutes=8)).token == basic.token
    assert [kind for kind, _ in events_of(store, ALICE)] == ["checkout_link_sent", "checkout_link_sent"]
    with pytest.raises(ValueError, match="no checkout link is configured for 'grinder'"):
        links.issue(ALICE, "rest", "grinder", T0)


def test_opening_redirects_to_the_configured_url_and_is_recorded_once(links, store):
    link = links.issue(ALICE, "rest", "premium", T0)
    assert links.target_of(link.token, T0 + timedelta(minutes=1)) == PREMIUM.format(token=link.token)
    assert link_row(store, link.token).opened_at is None  # a preview records nothing
    assert links.open(link.token, T0 + timedelta(minutes=2)) == PREMIUM.format(token=link.token)
    assert links.open(link.token, T0 + timedelta(minutes=3)) == PREMIUM.format(token=link.token)
    assert link_row(store, link.token).opened_at == T0 + timedelta(minutes=2)
    assert [kind for kind, _ in events_of(store, ALICE)] == ["checkout_link_sent", "checkout_opened"]
    for unknown in ("", "x" * 65, "not-a-token-of-ours-at-all-0000", link.token[:-1], None):
        assert links.open(unknown, T0) is None and links.target_of(unknown, T0) is None


def test_an_unpaid_link_times_out_lazily_and_a_new_one_is_sent(links, store):
    link = links.issue(ALICE, "rest", "premium", T0)
    late = T0 + SETTINGS.expire_after
    assert links.target_of(link.token, late) is None
    assert links.open(link.token, late) is None  # refused, and recorded as timed out
    assert link_row(store, link.token).timed_out_at == late
    assert links.resend(ALICE, late) is None
    fresh = links.issue(ALICE, "rest", "premium", late)
    assert fresh.token != link.token and fresh.sent_count == 1
    kinds = [kind for kind, _ in events_of(store, ALICE)]
    assert kinds == ["checkout_link_sent", "checkout_timed_out", "checkout_link_sent"]
    assert events_of(store, ALICE)[1][1] == {"plan": "premium", "opened": False}


def test_the_sweep_times_out_links_nobody_touched_again(links, store):
    stale = links.issue(ALICE, "rest", "premium", T0)
    opened = links.issue(BOB, "telegram", "premium", T0 + timedelta(minutes=30))
    links.open(opened.token, T0 + timedelta(minutes=31))
    assert links.expire_due(T0 + timedelta(hours=1)) == 0
    assert links.expire_due(T0 + timedelta(hours=2)) == 1
    assert links.expire_due(T0 + timedelta(hours=3)) == 1
    assert links.expire_due(T0 + timedelta(hours=4)) == 0
    assert link_row(store, stale.token).timed_out_at == T0 + timedelta(hours=2)
    assert events_of(store, BOB)[-1] == ("checkout_timed_out", {"plan": "premium", "opened": True})
    # Timing out is not the customer doing something: it never counts as their activity.
    assert store.contact_by_identity(ALICE)["last_activity_at"] == T0.isoformat()


def test_a_paid_order_naming_the_link_closes_it(links, store):
    link = links.issue(ALICE, "rest", "premium", T0)
    ingestion = EventIngestion(store, load_loyalty(BUSINESS))
    # The shop knows the customer by email: another contact than the chat's, until they prove it.
    event = BusinessEvent("pay-1", "order_paid", identifier("email", "alice@example.com"), T0 + timedelta(minutes=10),
                          {"order_id": "AUR-20001", "amount": 29, "checkout_ref": link.token})
    ingestion.record(event)
    ingestion.record(event)  # a retry changes nothing
    row = link_row(store, link.token)
    assert (row.paid_at, row.order_id) == (T0 + timedelta(minutes=10), "AUR-20001")
    assert events_of(store, ALICE) == [("checkout_link_sent", {"plan": "premium", "channel": "rest"}),
                                       ("checkout_paid", {"plan": "premium", "order_id": "AUR-20001"})]
    # Paid: never timed out, and the next purchase request gets a new link.
    assert links.expire_due(T0 + timedelta(days=2)) == 0
    assert links.issue(ALICE, "rest", "premium", T0 + timedelta(hours=1)).token != link.token
    # An unknown reference is an order like any other.
    ingestion.record(BusinessEvent("pay-2", "order_paid", ALICE, T0, {"order_id": "AUR-20002", "checkout_ref": "unknown"}))


def test_erasure_deletes_the_contacts_links(links, store):
    link = links.issue(ALICE, "rest", "premium", T0)
    receipt = store.erase(store.contact_by_identity(ALICE)["id"])
    assert receipt["deleted"]["checkout_links"] == 1
    assert links.open(link.token, T0) is None
    with store.engine.connect() as conn:
        assert conn.execute(select(business_events)).all() == []


# -- the chat's answer -----------------------------------------------------------------------


@pytest.fixture
def flow(links) -> CheckoutFlow:
    return CheckoutFlow(links, load_catalog(BUSINESS / "catalog.yml"), "https://help.example/")


def test_a_named_plan_gets_its_link_and_where_is_the_link_resends_it(flow):
    step = flow.answer(ALICE, "place_order", ["premium"], T0)
    assert step.answer_id == "checkout_link" and not step.hand_off
    url = step.values["checkout_url"]
    assert url == f"https://help.example/c/{step.link.token}"
    assert (step.values["product"], step.values["price"], step.values["valid_hours"]) == ("Premium", "€29 a month", "2")
    again = flow.answer(ALICE, "ask_checkout_link", [], T0 + timedelta(minutes=1))
    assert again.answer_id == "checkout_link_again" and again.values["checkout_url"] == url
    assert again.values["expires"] == "1 December 2026, 11:00 UTC"
    assert flow.answer(ALICE, "place_order", ["premium"], T0).answer_id == "checkout_link_again"
    assert flow.answer(ALICE, "greet", ["premium"], T0) is None


def test_no_product_gets_the_plans_and_no_open_link_gets_a_fresh_choice(flow):
    assert flow.answer(ALICE, "place_order", [], T0).answer_id == "place_order"
    assert flow.answer(ALICE, "place_order", ["no-such-thing"], T0).answer_id == "place_order"
    assert flow.answer(ALICE, "ask_checkout_link", [], T0).answer_id == "checkout_link_missing"
    # "send me the link for basic" names the product: its link, sent now.
    assert flow.answer(ALICE, "ask_checkout_link", ["basic"], T0).answer_id == "checkout_link"


def test_a_sale_the_chat_cannot_close_goes_to_a_person(store, links):
    catalog = load_catalog(BUSINESS / "catalog.yml")
    gift = next(p for p in catalog if p.id not in SETTINGS.links)
    flow = CheckoutFlow(links, catalog, "https://help.example")
    step = flow.answer(ALICE, "place_order", [gift.id], T0)
    assert (step.answer_id, step.hand_off, step.values["product"]) == ("checkout_person", True, gift.name)
    pricey = CheckoutLinks(store, CheckoutSettings(SETTINGS.links, SETTINGS.expire_after, Decimal("29")))
    flow = CheckoutFlow(pricey, catalog, "https://help.example")
    assert flow.answer(BOB, "place_order", ["premium"], T0).hand_off
    assert flow.answer(BOB, "place_order", ["basic"], T0).answer_id == "checkout_link"


# -- analytics -------------------------------------------------------------------------------


def test_the_analytics_count_links_by_outcome_for_the_period(links, store):
    from journey_state.analytics import checkout as checkout_metrics
    from journey_state.analytics.filters import Filters

    paid = links.issue(ALICE, "rest", "premium", T0)
    links.issue(ALICE, "rest", "premium", T0 + timedelta(minutes=1))  # resent
    links.open(paid.token, T0 + timedelta(minutes=2))
    links.issue(BOB, "telegram", "premium", T0 + timedelta(minutes=3))
    links.issue(BOB, "telegram", "basic", T0 + timedelta(days=3))  # after the period
    with store.engine.begin() as conn:
        from journey_state.checkout.links import mark_paid

        assert mark_paid(conn, store.model, paid.token, "AUR-1", T0 + timedelta(minutes=5))
    links.expire_due(T0 + timedelta(hours=3))
    period = Filters(T0 - timedelta(days=1), T0 + timedelta(days=1), "b2c")
    with store.read() as conn:
        got = checkout_metrics.compute(conn, period)
        by_channel = checkout_metrics.compute(conn, Filters(period.start, period.end, "b2c", channel="telegram"))
        other_model = checkout_metrics.compute(conn, Filters(period.start, period.end, "b2b"))
    assert {k: got[k] for k in ("sent", "resent", "opened", "paid", "timed_out", "open", "open_rate", "paid_rate")} == {
        "sent": 2, "resent": 1, "opened": 1, "paid": 1, "timed_out": 1, "open": 0, "open_rate": 0.5, "paid_rate": 0.5}
    assert [p["product"] for p in got["products"]] == ["premium"]
    assert (by_channel["sent"], by_channel["timed_out"], by_channel["paid"]) == (1, 1, 0)
    assert other_model["empty"] and other_model["open_rate"] is None
