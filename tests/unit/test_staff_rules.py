"""journey_state/staff_rules.py and journey_state/bidi.py: plain rules, no web framework."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from markupsafe import Markup

from journey_state.bidi import BIDI_CONTROLS, strip_bidi
from journey_state.identifiers import ChannelRef
from journey_state.staff_rules import (
    CHANNELS,
    InvalidStaffInput,
    LoginLimiter,
    SessionPolicy,
    address_key,
    safe_next,
    takeover_target,
)

# -- takeover input -----------------------------------------------------------------------------


@pytest.mark.parametrize("channel, sender", [("rest", "alice"), ("telegram", "-1001234567"), ("whatsapp", "+4915112345678"),
                                              ("socketio", "0f1e2d3c4b5a"), ("rest", "u.ser_1@x+y-z"), (" rest ", " bob ")])
def test_takeover_accepts_the_ids_journeybot_channels_use(channel, sender):
    assert takeover_target(channel, sender) == ChannelRef(channel.strip(), sender.strip())


@pytest.mark.parametrize("channel, sender, message", [
    ("", "alice", "give the channel and the sender id"),
    ("rest", "  ", "give the channel and the sender id"),
    ("x" * 100, "alice", "unknown channel 'xxxx"),
    ("REST", "alice", "choose one of rest, socketio, telegram, whatsapp"),
    ("rest", "a" * 129, "a sender id is 1-128 characters"),
    ("rest", "a/b", "letters, digits and _ . @ + -"),
    ("rest", "a\r\nb", "letters, digits and _ . @ + -"),
    ("rest", "evil\u202egnp.exe", "letters, digits and _ . @ + -"),
    ("rest", "<script>", "letters, digits and _ . @ + -"),
])
def test_takeover_refuses_with_a_message(channel, sender, message):
    with pytest.raises(InvalidStaffInput) as caught:
        takeover_target(channel, sender)
    assert message in str(caught.value)
    assert len(str(caught.value)) < 200  # an over-long value is not echoed in full


def test_channels_are_the_names_the_connectors_report():
    from rasa.core.channels.rest import RestInput

    from bot.channels.telegram.channel import TelegramInput
    from bot.channels.webchat.channel import WebChatInput
    from bot.channels.whatsapp.cloud.channel import WhatsAppInput
    from bot.channels.whatsapp.twilio.channel import TwilioWhatsAppInput

    names = {c.name() for c in (RestInput, WebChatInput, TelegramInput, WhatsAppInput, TwilioWhatsAppInput)}
    assert names == set(CHANNELS)


# -- where a login may go next ---------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/staff", "/staff/", "/staff/?", "/staff/handoffs/3", "/staff/dashboard?from=2026-03-02&to=2026-03-30"])
def test_next_may_be_any_console_page(target):
    assert safe_next(target) == target


def test_no_next_is_none():
    assert safe_next(None) is None and safe_next("") is None


@pytest.mark.parametrize("target, problem", [
    ("/staff/\r\nSet-Cookie: x=1", "control characters"),
    ("/staff/\nx", "control characters"),
    ("/staff/\x00", "control characters"),
    ("//evil.example/staff", "only pages under /staff/"),
    ("https://evil.example/staff", "only pages under /staff/"),
    ("javascript:alert(1)", "only pages under /staff/"),
    ("/\\evil.example", "backslash"),
    ("/staff\\..\\..\\evil", "backslash"),
    ("/api/contacts/x", "only pages under /staff/"),
    ("/staffing", "only pages under /staff/"),
    ("staff/", "only pages under /staff/"),
    ("/staff/" + "a" * 2000, "longer than 2000"),
])
def test_next_outside_the_console_is_refused_with_the_reason(target, problem):
    with pytest.raises(InvalidStaffInput) as caught:
        safe_next(target)
    assert problem in str(caught.value) and "after logging in you go to the queue" in str(caught.value)


# -- failed logins ------------------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_a_flood_for_one_user_from_many_addresses_locks_only_those_addresses():
    limiter = LoginLimiter(per_address=20, per_user=5, window=900, clock=Clock())
    for i in range(100):
        for _ in range(5):
            limiter.failed(f"198.51.100.{i}", "ann")
    assert limiter.blocked("198.51.100.7", "ann")
    assert not limiter.blocked("203.0.113.9", "ann")  # ann, from her own address
    assert not limiter.blocked("198.51.100.7", "bob")  # 5 < 20 for the address as a whole


def test_the_address_limit_counts_every_username():
    limiter = LoginLimiter(per_address=20, per_user=5, window=900, clock=Clock())
    for i in range(19):
        limiter.failed("192.0.2.1", f"guess{i}")
    assert not limiter.blocked("192.0.2.1", "bob")
    limiter.failed("192.0.2.1", "guess19")
    assert limiter.blocked("192.0.2.1", "bob") and not limiter.blocked("192.0.2.2", "bob")


def test_failures_expire_after_the_window_and_a_success_clears_only_that_user_at_that_address():
    clock = Clock()
    limiter = LoginLimiter(per_address=20, per_user=5, window=900, clock=clock)
    for _ in range(5):
        limiter.failed("192.0.2.1", "Ann")
    assert limiter.blocked("192.0.2.1", "ann")  # usernames compare case-insensitively
    clock.t += 899
    assert limiter.blocked("192.0.2.1", "ann")
    clock.t += 2
    assert not limiter.blocked("192.0.2.1", "ann")

    for i in range(19):
        limiter.failed("192.0.2.9", "ann" if i < 4 else f"x{i}")
    limiter.succeeded("192.0.2.9", "ann")
    limiter.failed("192.0.2.9", "ann")
    assert limiter.blocked("192.0.2.9", "bob")  # the address's own count was not reset by the success
    assert not limiter.blocked("192.0.2.10", "ann")


def test_expired_keys_are_swept_so_a_flood_of_names_does_not_grow_memory():
    clock = Clock()
    limiter = LoginLimiter(window=10, clock=clock)
    limiter.SWEEP_AT = 50
    for i in range(50):
        limiter.failed(f"192.0.2.{i}", "x")
    clock.t += 11
    limiter.failed("192.0.2.200", "x")
    assert len(limiter._failures) == 2  # the two keys of the last failure


@pytest.mark.parametrize("address, key", [
    ("192.0.2.1", "addr:192.0.2.1"),
    ("::ffff:192.0.2.1", "addr:192.0.2.1"),
    ("2001:db8:1:2:3:4:5:6", "addr:2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff::1", "addr:2001:db8:1:2::/64"),  # one subscriber's /64 is one address
    (None, "addr:unknown"),
    ("not an ip", "addr:not an ip"),
])
def test_address_keys(address, key):
    assert address_key(address) == key


# -- session expiry -----------------------------------------------------------------------------------


def test_session_policy_idle_and_absolute_limits():
    policy = SessionPolicy(absolute=timedelta(hours=12), idle=timedelta(minutes=60), touch_every=timedelta(seconds=30))
    login = datetime(2026, 3, 2, 8, tzinfo=timezone.utc)
    assert not policy.expired(login, login + timedelta(minutes=10), login + timedelta(minutes=69))
    assert policy.expired(login, login + timedelta(minutes=10), login + timedelta(minutes=70))
    assert not policy.expired(login, login + timedelta(hours=11, minutes=50), login + timedelta(hours=11, minutes=59))
    assert policy.expired(login, login + timedelta(hours=11, minutes=59), login + timedelta(hours=12))
    assert policy.expires_at(login) == login + timedelta(hours=12)
    assert not policy.touch_due(login, login + timedelta(seconds=29)) and policy.touch_due(login, login + timedelta(seconds=30))


# -- bidi controls ------------------------------------------------------------------------------------


def test_strip_bidi_removes_every_control_and_nothing_else():
    assert {f"{ord(c):04X}" for c in BIDI_CONTROLS} == {
        "202A", "202B", "202C", "202D", "202E", "2066", "2067", "2068", "2069", "200E", "200F", "061C",
    }
    for c in BIDI_CONTROLS:
        assert strip_bidi(f"refund {c}005 now") == "refund 005 now"
    arabic = "مرحبا، أريد استرداد 500"
    assert strip_bidi(arabic) == arabic and strip_bidi("plain") == "plain"
    assert strip_bidi("a\u200db") == "a\u200db"  # the zero-width joiner shapes emoji and scripts; not a bidi control


def test_strip_bidi_keeps_markup_markup():
    cleaned = strip_bidi(Markup("<b>x\u202ey</b>"))
    assert isinstance(cleaned, Markup) and cleaned == Markup("<b>xy</b>")
