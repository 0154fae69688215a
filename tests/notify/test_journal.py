"""The delivery journal: what a killed worker had sent but not recorded is recorded by
the next worker instead of sent again (real files, real PostgreSQL, real peers)."""

from __future__ import annotations

import json
import os
from collections import Counter

from kawamori import db
from notify.fanout import fan_out_pending
from notify.journal import Journal, replay_orphans
from tests.notify.queue import NOW, add_alert, add_outbox, alert_message
from tests.notify.test_worker import peers, states, subscribe_all, worker  # noqa: F401 (the fixture)


def entry(delivery: int, attempt: int, outcome: str = "delivered") -> dict:
    return {"id": delivery, "attempt": attempt, "outcome": outcome}


def test_a_live_workers_journal_is_left_alone_a_dead_ones_is_replayed_once(tmp_path):
    alive = Journal(tmp_path, "host:1:alive")
    alive.write(entry(1, 1))
    dead = Journal(tmp_path, "host:2:dead")
    for line in (entry(7, 1, "retry"), entry(7, 2), entry(8, 1)):
        dead.write(line)
    os.close(dead._fd)  # the process is gone: its lock with it
    assert (tmp_path / ".host_2_dead.jsonl.new").exists() is False  # made under another name, renamed
    with open(dead.path, "ab") as cut:
        cut.write(b'{"id": 9, "attem')  # the kill cut the last line short
    replayed = list(replay_orphans(tmp_path))
    assert replayed == [("host:2:dead", [entry(7, 2), entry(8, 1)])]  # the newest attempt per delivery
    assert not dead.path.exists() and alive.path.exists()
    assert list(replay_orphans(tmp_path)) == []
    alive.close()
    assert list(tmp_path.iterdir()) == []


def test_emptied_when_recorded_and_full_at_its_limit(tmp_path, monkeypatch):
    journal = Journal(tmp_path, "w")
    for n in range(10):
        journal.write(entry(n, 1))
    journal.empty()
    lines = [json.loads(line) for line in journal.path.read_text().splitlines()]
    assert lines == [{"worker": "w"}]
    monkeypatch.setattr("notify.journal.LIMIT_BYTES", 100)
    assert not journal.full
    journal.write(entry(1, 1))
    journal.write(entry(2, 1))
    assert journal.full
    journal.close()


def test_the_next_worker_records_what_a_killed_one_had_sent_instead_of_sending_again(
    conn,
    database_url,
    peers,  # noqa: F811 (the fixture imported above)
    tmp_path,
):
    subscribe_all(conn, peers)
    alert = add_alert(conn)
    add_outbox(conn, alert_message(alert, ["oyama"]))
    fan_out_pending(conn, now=NOW)
    with db.connect(database_url) as other:
        killed = worker(other, peers, journal_dir=tmp_path, name="host:1:killed")
        jobs = killed.claim({c: 10 for c in ("webpush", "line", "email", "gateway")})
        assert len(jobs) == 4
        killed.composer.prepare(jobs, killed.queue)
        for job in jobs:
            killed.dispatcher.submit(job)
        answered = []
        while len(answered) < 4:  # sent, the answers journaled … and killed before recording them
            answered += killed.dispatcher.finished(5.0)
        os.close(killed.journal._fd)
    sent = (len(peers.push.received), len(peers.line.messages), len(peers.mailbox.messages),
            len(peers.gateway.accepted))  # fmt: skip
    assert sent == (1, 1, 1, 1)
    assert states(conn) == Counter(queued=4)

    successor = worker(conn, peers, journal_dir=tmp_path)
    successor.run(until_idle=True)
    successor.close()
    assert states(conn) == Counter(delivered=4)
    assert (len(peers.push.received), len(peers.line.messages), len(peers.mailbox.messages),
            len(peers.gateway.accepted)) == sent  # nothing was sent again  # fmt: skip
    assert len(peers.line_peer.requests) == 1  # not even a retry LINE would have dropped
    log = conn.execute("SELECT channel, attempt, outcome FROM notification_log ORDER BY 1").fetchall()
    assert log == [(c, 1, "delivered") for c in ("email", "gateway", "line", "webpush")]
    assert list(tmp_path.iterdir()) == []  # replayed, and the successor's own removed on a clean stop
