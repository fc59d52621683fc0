"""Faults: the Rasa server restarts in the middle of a handoff (Telegram customer, console agent over HTTP).

Nothing is lost: the paused state lives in the SQL tracker store and survives the restart;
a reply the agent writes while Rasa is down is refused with a clear error and the text is
given back (never silently dropped); the update Telegram redelivers after the outage
reaches the agent; after the restart the reply goes out and hand back works.
"""
from __future__ import annotations

import html

import requests

from tests.e2e.test_handoff_telegram import (  # noqa: F401 (fixtures)
    AGENT,
    CSAT_QUESTION,
    Agent,
    Customer,
    fake,
    rasa_tracker,
    stack,
)
from tests.e2e.test_telegram import SECRET
from tests.fakes.telegram import deliver


def test_rasa_restart_mid_handoff_loses_nothing(stack, fake):
    customer = Customer(stack, fake)
    sender = str(customer.chat)
    customer.send("hi")
    customer.send("I want to talk to a human")
    customer.wait_for("number 1 in the queue")
    agent = Agent(stack.settings.console_url)
    handoff = agent.queued(sender)["id"]
    assert agent.post(f"/staff/handoffs/{handoff}/claim").status_code == 200
    assert agent.post(f"/staff/handoffs/{handoff}/reply", text="Ann here, one moment please.").json() == {"sent": True}
    customer.wait_for("Ann here, one moment please.")

    kept = "Sorry for the wait: your parcel left our roastery this morning <b>and</b> arrives tomorrow."
    during_outage = customer.update("are you still there??")
    with stack.rasa_stopped():
        before = customer.received()
        # The agent's reply while Rasa is down: a clear error, and the text comes back in the form.
        page = agent.post(f"/staff/handoffs/{handoff}/reply", as_json=False, text=kept)
        assert page.status_code == 503
        assert "Your reply was NOT sent" in page.text and "the bot server is not answering" in page.text
        assert f">{html.escape(kept, quote=False)}</textarea>" in page.text  # kept, and escaped
        as_json = agent.post(f"/staff/handoffs/{handoff}/reply", text=kept)
        assert as_json.status_code == 503
        assert as_json.json()["error"] == {**as_json.json()["error"], "code": "not_delivered", "text": kept}
        # Handing back cannot resume the bot: refused, and the conversation stays with the agent.
        refused = agent.post(f"/staff/handoffs/{handoff}/handback")
        assert refused.status_code == 503 and "still yours" in refused.json()["error"]["message"]
        assert agent.transcript(handoff)["problem"]  # the console says Rasa is unreachable, no 500
        # Telegram cannot deliver the customer's message now; it will retry the same update.
        try:
            outage = deliver(customer.webhook, during_outage, SECRET, timeout=10).status_code
        except requests.ConnectionError:
            outage = None
        assert outage is None or outage >= 500
        assert customer.received() == before

    # Rasa is back: the conversation is still paused (SQL tracker store) and still Ann's.
    state = rasa_tracker(stack, sender)
    assert state["paused"] is True
    transcript = agent.transcript(handoff)
    assert transcript["handoff"] == {"id": handoff, "status": "assigned", "agent": AGENT}
    assert transcript["paused"] is True and transcript["problem"] is None

    # Telegram's redelivery and a new message reach the agent; the bot stays silent.
    customer.silent_after(lambda: customer.send(during_outage))
    customer.silent_after(lambda: customer.send("hello after the restart"))
    said = [m["text"] for m in agent.transcript(handoff)["messages"] if m["from"] == "customer"]
    assert said[-2:] == ["are you still there??", "hello after the restart"]
    assert said.count("are you still there??") == 1

    # The kept reply goes out now, once.
    assert agent.post(f"/staff/handoffs/{handoff}/reply", text=kept).json() == {"sent": True}
    customer.wait_for(kept)
    assert customer.received().count(kept) == 1

    assert agent.post(f"/staff/handoffs/{handoff}/handback").status_code == 303
    got = customer.wait_for(CSAT_QUESTION)
    assert "virtual assistant" in got[-2], got[-3:]
    customer.send("4")
    customer.wait_for("Thanks for rating us")
    events = rasa_tracker(stack, sender)["events"]
    users = [e["text"] for e in events if e["event"] == "user"]
    assert users == ["hi", "I want to talk to a human", "are you still there??", "hello after the restart", "4"]
    agent_said = [e["text"] for e in events if e["event"] == "bot" and (e.get("metadata") or {}).get("agent")]
    assert agent_said == ["Ann from the team joined the chat.", "Ann here, one moment please.", kept]  # the claim announces Ann
    assert "Traceback" not in stack.log_tail("console", 200_000)
