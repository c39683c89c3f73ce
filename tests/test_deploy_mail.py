"""`python -m deploy.mail`: which message the sandbox sent to whom, without reading raw MIME.

Messages go through the real SMTP sink `make run` starts (deploy/mailsink.py) from a real
SMTP client, the way notify sends them: a text and an HTML part, a language header.
"""

from __future__ import annotations

import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib

from deploy.mailsink import MailSink
from tests.support import free_port

ROOT = Path(__file__).resolve().parent.parent


def message(to: str, subject: str, language: str, text: str) -> EmailMessage:
    built = EmailMessage()
    built["From"] = "Trust & Safety <ts@officeactions.test>"
    built["To"] = to
    built["Subject"] = subject
    built["Date"] = "Fri, 04 Dec 2026 10:00:00 +0000"
    built.set_content(text)
    built.add_alternative(f"<p>{text}</p>", subtype="html")
    built["Content-Language"] = language  # after: add_alternative moves Content-* headers
    return built


def mail(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deploy.mail", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


async def test_list_names_each_message_and_show_prints_its_text(tmp_path: Path) -> None:
    maildir = tmp_path / "mail"
    port = free_port()
    with MailSink(maildir, port):
        for sent in (
            message("rita@example.org", "Your request R-1 was received", "en", "We have it."),
            message(
                "vandal1@sandbox.test",
                "Офисное действие: OA-1",
                "ru",
                "Ваша учётная запись заблокирована.",
            ),
        ):
            await aiosmtplib.send(sent, hostname="127.0.0.1", port=port)
    listed = mail("--maildir", str(maildir), "list")  # before the command, or after it
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 2
    assert "rita@example.org" in lines[0] and "Your request R-1 was received" in lines[0]
    assert " en " in lines[0]
    assert "vandal1@sandbox.test" in lines[1] and "Офисное действие: OA-1" in lines[1]
    assert " ru " in lines[1]
    shown = mail("show", "2", "--maildir", str(maildir))
    assert shown.returncode == 0, shown.stderr
    assert "Ваша учётная запись заблокирована." in shown.stdout  # decoded, not base64
    assert "<p>" not in shown.stdout and "Content-Transfer-Encoding" not in shown.stdout
    assert "To: vandal1@sandbox.test" in shown.stdout


def test_show_refuses_a_number_that_is_not_there(tmp_path: Path) -> None:
    (tmp_path / "mail" / "new").mkdir(parents=True)
    missing = mail("show", "1", "--maildir", str(tmp_path / "mail"))
    assert missing.returncode == 2 and "number: there are 0 messages" in missing.stderr
    empty = mail("list", "--maildir", str(tmp_path / "mail"))
    assert empty.returncode == 0 and "no mail in" in empty.stdout
