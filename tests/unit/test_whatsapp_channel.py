"""WhatsApp Cloud API connector: rendering within limits, webhook parsing, signatures, config,
the durable session/dedupe store, the Graph client and the 24-hour rule (against a fake Graph API)."""
from __future__ import annotations

import asyncio
import json
import logging
import threading
from datetime import datetime, timedelta, timezone

import pytest

from bot.channels.whatsapp import render
from bot.channels.whatsapp.cloud.channel import (
    MalformedPayload,
    WhatsAppOutput,
    inbound_messages,
    message_text,
    signature_valid,
)
from bot.channels.whatsapp.cloud.client import (
    GraphAuthError,
    GraphRejected,
    GraphUnavailable,
    OutsideWindow,
    WhatsAppGraphClient,
)
from bot.channels.whatsapp.cloud.config import load_whatsapp_config
from bot.channels.whatsapp.store import WhatsAppStore
from journey_state.replies import BusinessConfigError
from journey_state.store import make_engine
from tests.conftest import BUSINESS_DIR
from tests.fakes import whatsapp as wa
from tests.fakes.whatsapp import limits_problem

C = render.Choice


# -- rendering ------------------------------------------------------------------------------


def test_text_up_to_4096_is_one_message_and_longer_text_is_split_at_boundaries():
    assert render.render("hello") == [{"type": "text", "text": {"body": "hello", "preview_url": False}}]
    paragraph = ("word " * 700).strip()  # 3499 chars
    parts = render.split_text(paragraph + "\n\n" + paragraph)
    assert parts == [paragraph, paragraph]
    messages = render.render("x" * 9000)
    assert [len(m["text"]["body"]) for m in messages] == [4096, 4096, 808]
    assert all(limits_problem(m | {"type": "text"}) is None for m in messages)


def test_up_to_three_buttons_keep_whole_ids_and_shorten_titles():
    long_id = "/place_order" + '{"plan": "' + "p" * 200 + '"}'
    [message] = render.render("Pick one", [C("Premium subscription, monthly", long_id), C("Basic", "/basic")])
    buttons = message["interactive"]["action"]["buttons"]
    assert [b["reply"]["id"] for b in buttons] == [long_id, "/basic"]
    assert buttons[0]["reply"]["title"] == "Premium subscriptio…" and len(buttons[0]["reply"]["title"]) == 20
    assert limits_problem(message) is None


def test_duplicate_payloads_get_unique_ids_that_map_back():
    [message] = render.render("Which plan?", [C("Premium", "/place_order"), C("Basic", "/place_order")])
    ids = [b["reply"]["id"] for b in message["interactive"]["action"]["buttons"]]
    assert ids == ["/place_order", "/place_order~~2"]
    assert [render.reply_id_to_text(i) for i in ids] == ["/place_order", "/place_order"]
    assert render.reply_id_to_text("/ask~~x") == "/ask~~x"
    assert limits_problem(message) is None


def test_four_to_ten_choices_become_a_list_and_more_are_split():
    choices = [C(f"Option number {i} with a long title", f"/pick{{\"n\": {i}}}") for i in range(1, 24)]
    messages = render.render("Choose a topic", choices[:7])
    assert len(messages) == 1 and messages[0]["interactive"]["type"] == "list"
    rows = messages[0]["interactive"]["action"]["sections"][0]["rows"]
    assert len(rows) == 7 and all(len(r["title"]) <= 24 for r in rows)
    assert rows[0]["description"] == "Option number 1 with a long title"
    assert limits_problem(messages[0]) is None
    split = render.render("Choose a topic", choices)
    assert [len(m["interactive"]["action"]["sections"][0]["rows"]) for m in split] == [10, 10, 3]
    assert split[0]["interactive"]["body"]["text"] == "Choose a topic"
    assert split[2]["interactive"]["body"]["text"] == "More options (3/3)"
    assert all(limits_problem(m) is None for m in split)


def test_long_text_with_buttons_sends_the_text_first():
    text = "A" * 900 + ". " + "B" * 900
    messages = render.render(text, [C("OK", "/affirm")])
    assert [m["type"] for m in messages] == ["text", "interactive"]
    assert all(limits_problem(m) is None for m in messages)


def test_ids_too_long_for_whatsapp_fall_back_to_text():
    [message] = render.render("Pick", [C("One", "/x" + "y" * 300)])
    assert message["type"] == "text" and "• One" in message["text"]["body"]


# -- webhook parsing and signatures -----------------------------------------------------------


def test_every_entry_change_and_message_is_read_and_statuses_ignored():
    payload = wa.notification(
        wa.value([wa.text_message("4915100000001", "hi", "wamid.1"), wa.text_message("4915100000002", "yo", "wamid.2")]),
        wa.value(statuses=[wa.status_update("4915100000001", "wamid.0")]),
        wa.value([wa.list_reply("4915100000003", "/track_order", "Track", "wamid.3")]),
        entries=2,
    )
    found = inbound_messages(payload)
    assert [m["id"] for m, _ in found] == ["wamid.1", "wamid.2", "wamid.3"]
    assert [message_text(m) for m, _ in found if m["id"] == "wamid.3"] == ["/track_order"]


def test_replies_map_to_the_reply_id():
    assert message_text(wa.button_reply("1", "/ask_pricing", "See the plans", "w")) == "/ask_pricing"
    assert message_text(wa.button_reply("1", "/place_order~~2", "Basic", "w")) == "/place_order"
    assert message_text(wa.list_reply("1", "/pick{\"n\": 4}", "Option 4", "w")) == "/pick{\"n\": 4}"
    assert message_text({"type": "button", "button": {"payload": "STOP", "text": "Stop promotions"}}) == "STOP"
    assert message_text({"type": "image", "image": {"id": "1", "caption": "broken cup"}}) == "broken cup"
    assert message_text({"type": "sticker", "sticker": {"id": "1"}}) is None
    for odd in ({"type": "text", "text": "hi"}, {"type": "text", "text": {"body": 5}},
                {"type": "interactive", "interactive": {"type": "button_reply", "button_reply": ["x"]}},
                {"type": "interactive", "interactive": "x"}, {"type": "image", "image": None}):
        assert message_text(odd) is None


@pytest.mark.parametrize("payload", [
    None, [], {"object": "page", "entry": []}, {"object": "whatsapp_business_account"},
    {"object": "whatsapp_business_account", "entry": [{"changes": "x"}]},
    wa.notification(wa.value([{"from": "4915100000001", "timestamp": "1", "type": "text"}])),
    wa.notification(wa.value([{"id": "wamid.1", "from": "not-a-number", "timestamp": "1", "type": "text"}])),
    wa.notification(wa.value([{"id": "wamid.1", "from": "4915100000001", "timestamp": "yesterday", "type": "text"}])),
    wa.notification(wa.value([{"id": "wamid.1", "from": "4915100000001", "timestamp": "9" * 30, "type": "text"}])),
])
def test_malformed_notifications_are_refused_whole(payload):
    with pytest.raises(MalformedPayload):
        inbound_messages(payload)


def test_signature_is_hmac_sha256_of_the_raw_body():
    body = json.dumps(wa.notification()).encode()
    assert signature_valid(wa.APP_SECRET, body, wa.sign(body))
    assert not signature_valid(wa.APP_SECRET, body + b" ", wa.sign(body))
    assert not signature_valid(wa.APP_SECRET, body, wa.sign(body, "other"))
    assert not signature_valid(wa.APP_SECRET, body, None)
    assert not signature_valid(wa.APP_SECRET, body, wa.sign(body)[len("sha256="):])


# -- configuration ---------------------------------------------------------------------------


def test_shipped_config_loads():
    config = load_whatsapp_config(BUSINESS_DIR / "whatsapp.yml")
    assert config.window == timedelta(hours=24) - timedelta(minutes=5)
    assert config.template.parameters_for("Line one\n\nline   two") == ["Line one line two"]


@pytest.mark.parametrize("text, key", [
    ("outside_window_template: {name: x, language: en}\nsession_window: {hours: 48}", "session_window.hours"),
    ("outside_window_template: {name: Follow-Up, language: en}", "outside_window_template.name"),
    ("outside_window_template: {name: x, language: en, body_parameters: ['{customer}']}", "outside_window_template.body_parameters[0]"),
    ("outside_window_template: {name: x}", "outside_window_template.language"),
    ("session_window: {hours: 24}", "outside_window_template"),
    ("outside_window_template: {name: x, language: en}\ncolour: blue", "colour"),
])
def test_config_errors_name_file_and_key(tmp_path, text, key):
    path = tmp_path / "whatsapp.yml"
    path.write_text(text)
    with pytest.raises(BusinessConfigError) as info:
        load_whatsapp_config(path)
    assert str(info.value).startswith(f"{path}: {key}:")


# -- durable store ---------------------------------------------------------------------------


@pytest.fixture
def store(migrated_url):
    engine = make_engine(migrated_url)
    yield WhatsAppStore(engine)
    engine.dispose()


def test_a_message_id_is_claimed_once_even_concurrently(store):
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def claim():
        barrier.wait()
        results.append(store.claim("wamid.SAME", "+4915100000001"))

    threads = [threading.Thread(target=claim) for _ in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(results) == [False] * 5 + [True]
    store.release("wamid.SAME")
    assert store.claim("wamid.SAME", "+4915100000001")


def test_last_inbound_only_moves_forward(store):
    t0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
    assert store.last_inbound("+4915100000001") is None
    store.touch("+4915100000001", "cloud", t0)
    store.touch("+4915100000001", "cloud", t0 - timedelta(hours=3))  # a late redelivery
    assert store.last_inbound("+4915100000001") == t0
    store.touch("+4915100000001", "twilio", t0 + timedelta(hours=1))
    assert store.last_inbound("+4915100000001") == t0 + timedelta(hours=1)


# -- Graph client and output channel (24-hour rule) -----------------------------------------------


@pytest.fixture
def graph():
    fake = wa.FakeGraph().start()
    yield fake
    fake.stop()


def client_for(graph, token=wa.TOKEN, **kw):
    return WhatsAppGraphClient(wa.PHONE_NUMBER_ID, token, base_url=graph.base_url, version=wa.VERSION, **kw)


def test_client_sends_and_raises_typed_errors(graph, caplog):
    client = client_for(graph)
    wamid = client.send("+4915100000001", render.render("hello")[0])
    assert graph.sent[0].to == "4915100000001" and graph.sent[0].wamid == wamid
    with pytest.raises(GraphAuthError):
        client_for(graph, token="expired").send("+4915100000001", render.render("hi")[0])
    with pytest.raises(GraphRejected) as info:
        client.send("+4915100000001", {"type": "text", "text": {"body": ""}})
    assert "1-4096" in str(info.value)
    graph.closed_windows.add("4915100000002")
    with pytest.raises(OutsideWindow):
        client.send("+4915100000002", render.render("hi")[0])
    assert "Bearer" not in caplog.text and wa.TOKEN not in repr(client)


def test_client_retries_rate_limits_but_not_server_errors(graph):
    client = client_for(graph, backoff=0.01)
    graph.queue(429, {"error": {"message": "(#130429) Rate limit hit", "code": 130429}})
    client.send("+4915100000001", render.render("hi")[0])
    assert len(graph.requests) == 2 and len(graph.sent) == 1
    graph.queue(500, {"error": {"message": "An unknown error occurred", "code": 1}})
    with pytest.raises(GraphUnavailable):
        client.send("+4915100000001", render.render("hi")[0])
    assert len(graph.requests) == 3  # not retried: the message may have been sent


def test_unreachable_graph_is_graph_unavailable():
    client = WhatsAppGraphClient(wa.PHONE_NUMBER_ID, wa.TOKEN, base_url="http://127.0.0.1:9", retries=1, backoff=0.01, timeout=2)
    with pytest.raises(GraphUnavailable):
        client.send("+4915100000001", render.render("hi")[0])


def test_outside_the_window_the_template_replaces_free_form_messages(graph, store, caplog):
    config = load_whatsapp_config(BUSINESS_DIR / "whatsapp.yml")
    out = WhatsAppOutput(client_for(graph), store, config)
    now = datetime.now(timezone.utc)
    store.touch("+4915100000001", "cloud", now - timedelta(hours=1))
    store.touch("+4915100000002", "cloud", now - timedelta(hours=25))
    caplog.set_level(logging.INFO)

    asyncio.run(out.send_text_with_buttons("+4915100000001", "Still there?", [{"title": "Yes", "payload": "/affirm"}]))
    asyncio.run(out.send_text_message("+4915100000002", "Your refund\nwas approved."))
    asyncio.run(out.send_text_message("+4915100000003", "Never wrote to us."))
    assert [(s.to, s.type) for s in graph.sent] == [("4915100000001", "interactive"), ("4915100000002", "template"), ("4915100000003", "template")]
    template = graph.sent[1].body["template"]
    assert template == {"name": "journeybot_follow_up", "language": {"code": "en"},
                        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Your refund was approved."}]}]}
    assert "instead of a free-form message" in caplog.text

    # Meta has the last word: if it says the window is closed, the template goes instead.
    graph.closed_windows.add("4915100000001")
    asyncio.run(out.send_text_message("+4915100000001", "One more thing"))
    assert [s.type for s in graph.sent[3:]] == ["template"]
