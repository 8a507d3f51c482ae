"""The SMTP receiver's mailbox: aiosmtpd's Mailbox handler (as ``python -m aiosmtpd -c`` makes it) and read_mailbox."""
from __future__ import annotations

import argparse
from email.message import EmailMessage

from aiosmtpd.handlers import Mailbox

from backing_services.smtp import read_mailbox


def test_messages_the_handler_stores_are_read_back_oldest_first(tmp_path):
    box = tmp_path / "mailbox"
    assert read_mailbox(box) == []  # nothing delivered yet
    handler = Mailbox.from_cli(argparse.ArgumentParser(), str(box))
    for subject in ("[FIRING] order-errors", "[RESOLVED] order-errors"):
        message = EmailMessage()
        message["Subject"], message["To"] = subject, "ops@example.com"
        message.set_content("order-service failed 40% of its requests")
        handler.handle_message(message)
    messages = read_mailbox(box)
    assert [m["Subject"] for m in messages] == ["[FIRING] order-errors", "[RESOLVED] order-errors"]
    assert "failed 40%" in messages[0].get_payload()
