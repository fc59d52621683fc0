"""One real stack for a fuzz module, and the three checks made after every hostile request.

The stack has every channel configured (REST, web chat, Telegram, WhatsApp Cloud, Twilio),
so each webhook runs its real verification and parsing instead of answering 503 for missing
secrets. Only the outside services are fakes: Telegram's Bot API, Meta's Graph API and
Twilio's Messages API.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests
from hypothesis import HealthCheck, Phase, settings
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine

from devtools.stack import Stack, create_staff_user
from journey_state.store.migrate import upgrade
from tests.fakes import telegram as tg
from tests.fakes import twilio as tw
from tests.fakes import whatsapp as wa

PROJECT = Path(__file__).resolve().parents[2]
TELEGRAM_SECRET = "fuzz-telegram-secret_0123456789"
PUBLIC_BASE = "https://bot.example.com"  # what Twilio signs (JOURNEYBOT_PUBLIC_URL)
ADMIN, ADMIN_PASSWORD = "fuzzadmin", "fuzz admin password 1"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

# Tables whose rows legitimately change on a refused request: a staff session records its
# last request (idle timeout) even when that request is refused, and the login limiter and
# the migration version are bookkeeping, not customer data.
VOLATILE_TABLES = frozenset({"staff_sessions", "alembic_version"})

# Bounded and derandomized: the same examples on every run and machine, and a known cost.
# No shrinking: against a live stack it can take minutes; the failing example is printed anyway.
FUZZ_SETTINGS = settings(
    derandomize=True, database=None, deadline=None, print_blob=False,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=list(HealthCheck),
)


def fuzz(max_examples: int) -> settings:
    return settings(FUZZ_SETTINGS, max_examples=max_examples)


def credentials(path: Path, telegram_url: str, graph_url: str, twilio_url: str) -> Path:
    path.write_text(f"""bot.channels.rest.RestInput:
  token_env: JOURNEYBOT_REST_TOKEN
bot.channels.webchat.WebChatInput:
  user_message_evt: user_uttered
  bot_message_evt: bot_uttered
  session_persistence: true
bot.channels.telegram.TelegramInput:
  token_env: TELEGRAM_BOT_TOKEN
  secret_env: TELEGRAM_WEBHOOK_SECRET
  api_base_url: {telegram_url}
bot.channels.whatsapp.cloud.WhatsAppInput:
  verify_token_env: WHATSAPP_VERIFY_TOKEN
  app_secret_env: WHATSAPP_APP_SECRET
  access_token_env: WHATSAPP_ACCESS_TOKEN
  phone_number_id_env: WHATSAPP_PHONE_NUMBER_ID
  graph_base_url: {graph_url}
  graph_version: {wa.VERSION}
bot.channels.whatsapp.twilio.TwilioWhatsAppInput:
  account_sid_env: TWILIO_ACCOUNT_SID
  auth_token_env: TWILIO_AUTH_TOKEN
  whatsapp_number_env: TWILIO_WHATSAPP_NUMBER
  public_url_env: JOURNEYBOT_PUBLIC_URL
  api_base_url: {twilio_url}
""", encoding="utf-8")
    return path


@dataclass
class FuzzStack:
    """A running stack plus the fakes it talks to, with the after-every-request checks."""

    stack: Stack
    engine: Engine
    fakes: list = field(default_factory=list)

    @property
    def rasa(self) -> str:
        return self.stack.settings.rasa_url

    @property
    def console(self) -> str:
        return self.stack.settings.console_url

    # -- checks --------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, tuple[int, str]]:
        """Row count and a hash of every row, per table (journey tables and Rasa's `events`)."""
        result: dict[str, tuple[int, str]] = {}
        with self.engine.connect() as conn:
            for table in sorted(inspect(conn).get_table_names()):
                if table in VOLATILE_TABLES:
                    continue
                rows = sorted(repr(tuple(r)) for r in conn.execute(text(f'SELECT * FROM "{table}"')))
                result[table] = (len(rows), hashlib.sha256("\n".join(rows).encode("utf-8", "surrogatepass")).hexdigest())
        return result

    def assert_alive(self, what: str) -> None:
        for name, proc in self.stack.processes.items():
            assert proc.poll() is None, f"{what}: {name} exited with {proc.returncode}; log:\n{self.stack.log_tail(name)}"
        for name, url in self.stack.health_urls().items():
            try:
                status = requests.get(url, timeout=15).status_code
            except requests.RequestException as exc:
                raise AssertionError(f"{what}: {name} health check failed: {exc!r}; log:\n{self.stack.log_tail(name)}") from None
            assert status == 200, f"{what}: {name} health answered {status}"

    def tracebacks_in_our_code(self) -> list[str]:
        """Every traceback in the processes' logs that passes through journeybot's own code.

        A handler that raises in a background task (socket.io events) answers nothing wrong
        over HTTP; its log is where the fuzz can see it.
        """
        ours = re.compile(r'File "' + re.escape(str(PROJECT)) + r'/((?:bot|actions|journey_state)/[^"]+)", line (\d+)')
        found = []
        for name in self.stack.processes:
            log = (self.stack.log_dir / f"{name}.log").read_text(encoding="utf-8", errors="replace")
            for chunk in log.split("Traceback (most recent call last):")[1:]:
                lines = chunk.splitlines()[1:]
                # The frames are indented; the first line that is not is the exception.
                end = next((i for i, line in enumerate(lines) if line and not line.startswith(" ")), len(lines))
                frames = ours.findall("\n".join(lines[:end]))
                if frames:
                    exception = lines[end][:200] if end < len(lines) else "?"
                    found.append(f"{name}: {exception} (last in {frames[-1][0]}:{frames[-1][1]})")
        return found

    def probe(self, what: str, send: Callable[[], requests.Response]) -> requests.Response:
        """Send one hostile request; fail on a 5xx, a dead process, or a 4xx that changed stored data."""
        before = self.snapshot()
        response = send()
        assert response.status_code < 500, f"{what}: HTTP {response.status_code}: {response.text[:800]!r}"
        self.assert_alive(what)
        if 400 <= response.status_code < 500:
            after = self.snapshot()
            changed = sorted(t for t in set(before) | set(after) if before.get(t) != after.get(t))
            assert not changed, f"{what}: refused with {response.status_code} but changed table(s) {changed}"
        return response


def start_fuzz_stack(model: Path, work: Path) -> tuple[FuzzStack, Callable[[], None]]:
    """A migrated SQLite database, the fakes and a started stack; returns it and its stopper."""
    database_url = f"sqlite:///{work / 'journeybot.db'}"
    upgrade(database_url)
    create_staff_user(database_url, ADMIN, ADMIN_PASSWORD, "admin")
    telegram, graph, twilio = tg.FakeTelegram().start(), wa.FakeGraph().start(), tw.FakeTwilio().start()
    fakes = [telegram, graph, twilio]
    creds = credentials(work / "credentials.yml", telegram.base_url, graph.base_url, twilio.base_url)
    env = {
        "JOURNEYBOT_CREDENTIALS": str(creds),
        "TELEGRAM_BOT_TOKEN": tg.TOKEN, "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
        "WHATSAPP_VERIFY_TOKEN": wa.VERIFY_TOKEN, "WHATSAPP_APP_SECRET": wa.APP_SECRET,
        "WHATSAPP_ACCESS_TOKEN": wa.TOKEN, "WHATSAPP_PHONE_NUMBER_ID": wa.PHONE_NUMBER_ID,
        "TWILIO_ACCOUNT_SID": tw.ACCOUNT_SID, "TWILIO_AUTH_TOKEN": tw.AUTH_TOKEN,
        "TWILIO_WHATSAPP_NUMBER": tw.WHATSAPP_NUMBER, "JOURNEYBOT_PUBLIC_URL": PUBLIC_BASE,
    }
    stack = Stack.create(model, database_url, work / "stack", extra_env=env)
    engine = create_engine(database_url, future=True)

    def stop() -> None:
        stack.stop()
        engine.dispose()
        for fake in fakes:
            fake.stop()

    try:
        stack.start()
    except Exception:
        stop()
        raise
    return FuzzStack(stack, engine, fakes), stop


class StaffClient:
    """A logged-in admin of the staff console over HTTP: cookie session plus the forms' CSRF token."""

    def __init__(self, console_url: str):
        self.base = console_url
        self.http = requests.Session()
        login_page = self.http.get(f"{console_url}/staff/login", timeout=30)
        token = CSRF.search(login_page.text).group(1)
        response = self.http.post(f"{console_url}/staff/login", allow_redirects=False, timeout=30,
                                  data={"username": ADMIN, "password": ADMIN_PASSWORD, "csrf_token": token})
        assert response.status_code == 302, response.text
        self.csrf = CSRF.search(self.http.get(f"{console_url}/staff/", timeout=30).text).group(1)

    def logged_in(self) -> bool:
        return self.http.get(f"{self.base}/staff/queue.json", timeout=30).status_code == 200
