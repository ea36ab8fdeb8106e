"""`flask --app wsgi mail fetch`, and the same each minute once MAIL_IMAP_URL is set.

The package has no pages: its blueprint carries the command group and the
periodic job, so the core never imports it (STYLE §1).
"""

import click
from flask import Blueprint, current_app

from inbox.fetch import fetch_mail

bp = Blueprint("inbox", __name__, cli_group="mail")


@bp.record_once
def _schedule(state) -> None:
    # The in-process scheduler or `flask cron` runs it with the outbox flush.
    if state.app.config.get("MAIL_IMAP_URL"):
        state.app.extensions.setdefault("periodic_jobs", []).append(
            (fetch_mail, "default")
        )


@bp.cli.command("fetch")
def fetch() -> None:
    """Read the mailbox at MAIL_IMAP_URL once: new requests, replies, receipts."""
    if not current_app.config.get("MAIL_IMAP_URL"):
        raise click.ClickException("MAIL_IMAP_URL is not set: no mailbox to read")
    report = fetch_mail()
    if report.unreachable:
        raise click.ClickException(f"mailbox unreachable: {report.unreachable}")
    done = ", ".join(f"{count} {kind}" for kind, count in sorted(report.items()))
    click.echo(f"e-mail: {done or 'nothing new'}")
