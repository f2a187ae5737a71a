#!/usr/bin/python3
"""An AMQP 1.0 client on Qpid Proton (Debian's python3-qpid-proton) that the end-to-end
tests drive. It prints one JSON object per line on stdout, so a test can check every field.

  proton_client.py sub URL ADDRESS [--count N] [--timeout S] [--filter KEY=VALUE]...
                   [--filter-long KEY=N] [--filter-timestamp KEY=MS]
                   [--credit N] [--stall-after N --stall-for S] [--user U --password P]
                   [--mech MECH] [--close-link-first]
  proton_client.py pub URL ADDRESS [--count N] [--body TEXT] [--size BYTES] [--durable]
                   [--prop KEY=VALUE]... [--user U --password P] [--mech MECH]

`sub` prints {"event": "message", "t", "subject", "annotations", "properties", "body"} per
message, then {"event": "done", "received": N} (or {"event": "detached"/"error", ...}).
`pub` prints {"event": "settled", "index": I, "state": ...} per delivery and
{"event": "done", ...}. I is the delivery's place in publication order (0, 1, ...); the
message carries it as its message-id and the delivery as its tag (both the string of I),
so a settlement and a stored message can each be matched to what was sent.

`--close-link-first` detaches the receiving link before closing the connection when the
subscriber is done (without it the connection is closed with the link still attached).
"""
import argparse
import base64
import json
import sys
import time

from proton import Message, symbol, Described, timestamp
from proton.handlers import MessagingHandler
from proton.reactor import Container, Filter


def plain(v):
    """Turns proton values into JSON-friendly ones."""
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"binary": base64.b64encode(bytes(v)).decode()}
    if isinstance(v, Described):
        return {"descriptor": plain(v.descriptor), "value": plain(v.value)}
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    return str(v)


def content_type(m):
    """The message's content-type, or None (Proton's getter turns an absent one into the
    symbol 'None')."""
    ct = m.content_type
    return str(ct) if ct and ct != "None" else None


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def parse_kv(items):
    out = {}
    for item in items or []:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def connect_kw(a):
    """Connection options: SASL PLAIN with --user/--password, or the one mechanism --mech
    names (e.g. ANONYMOUS); Proton's defaults otherwise."""
    kw = {}
    if a.user:
        kw = {"user": a.user, "password": a.password,
              "allow_insecure_mechs": True, "sasl_enabled": True,
              "allowed_mechs": a.mech or "PLAIN"}
    elif a.mech:
        kw = {"sasl_enabled": True, "allowed_mechs": a.mech}
    return kw


class Sub(MessagingHandler):
    def __init__(self, a):
        super().__init__(prefetch=0 if a.credit else 100, auto_accept=True)
        self.a = a
        self.received = 0
        self.stalled = False
        self.done = False

    def on_start(self, event):
        conn = event.container.connect(self.a.url, **connect_kw(self.a))
        opts = None
        fmap = {symbol(k): Described(symbol(k), v)
                for k, v in parse_kv(self.a.filter).items()}
        for k, v in parse_kv(self.a.filter_long).items():
            fmap[symbol(k)] = Described(symbol(k), int(v))
        for k, v in parse_kv(self.a.filter_timestamp).items():
            fmap[symbol(k)] = Described(symbol(k), timestamp(int(v)))
        if fmap:
            opts = Filter(fmap)
        self.receiver = event.container.create_receiver(conn, self.a.address, options=opts)
        if self.a.credit:
            self.receiver.flow(self.a.credit)
        self.timer = event.container.schedule(self.a.timeout, self)

    def on_timer_task(self, event):
        if self.stalled:
            self.stalled = False
            emit({"event": "resumed", "received": self.received})
            self.receiver.flow(self.a.credit or 1000)
            return
        self.finish(event, "timeout")

    def on_link_opened(self, event):
        if event.link == self.receiver:
            emit({"event": "attached"})

    def on_message(self, event):
        if self.done:
            return
        m = event.message
        self.received += 1
        emit({
            "event": "message",
            "t": time.monotonic(),
            "subject": m.subject,
            "annotations": plain(m.annotations or {}),
            "properties": plain(m.properties or {}),
            "content_type": content_type(m),
            "durable": bool(m.durable),
            "body": plain(m.body),
        })
        if self.a.count and self.received >= self.a.count:
            self.finish(event, "count")
            return
        if self.a.credit and not self.stalled and self.receiver.credit == 0:
            if self.a.stall_after and self.received >= self.a.stall_after:
                self.stalled = True
                emit({"event": "stalled", "received": self.received})
                event.container.schedule(self.a.stall_for, self)
            else:
                self.receiver.flow(self.a.credit)

    def on_link_closed(self, event):
        if self.done:
            return
        err = event.link.remote_condition
        emit({"event": "detached",
              "condition": str(err.name) if err else None,
              "description": err.description if err else None})
        self.finish(event, "detached")

    def on_link_error(self, event):
        # A remote detach carrying an error condition (Proton routes it here, not to
        # on_link_closed).
        self.on_link_closed(event)
        event.link.close()

    def on_link_closing(self, event):
        # A clean remote detach (no error) while our end is still open.
        self.on_link_closed(event)

    def on_transport_error(self, event):
        c = event.transport.condition
        emit({"event": "error", "condition": c.name if c else None,
              "description": c.description if c else None})
        if c and "unauthorized" in (c.name or ""):
            # Refused credentials: reconnecting would only be refused again.
            self.finish(event, "error")
            event.container.stop()

    def finish(self, event, why):
        if self.done:
            return
        self.done = True
        emit({"event": "done", "received": self.received, "why": why})
        if self.timer:
            self.timer.cancel()
        if self.a.close_link_first:
            self.receiver.close()
        self.receiver.connection.close()


class Pub(MessagingHandler):
    def __init__(self, a):
        super().__init__()
        self.a = a
        self.sent = 0
        self.settled = 0

    def on_start(self, event):
        conn = event.container.connect(self.a.url, **connect_kw(self.a))
        event.container.create_sender(conn, self.a.address)
        self.timer = event.container.schedule(self.a.timeout, self)

    def on_timer_task(self, event):
        emit({"event": "done", "sent": self.sent, "settled": self.settled, "why": "timeout"})
        event.container.stop()

    def on_sendable(self, event):
        while event.sender.credit and self.sent < self.a.count:
            index = str(self.sent)
            body = self.a.body
            if self.a.size:
                body = bytes((i * 7 + self.sent) % 251 for i in range(self.a.size))
            m = Message(id=index, body=body, durable=self.a.durable,
                        properties=parse_kv(self.a.prop) or None,
                        subject=self.a.address)
            event.sender.send(m, tag=index)
            self.sent += 1

    def on_settled(self, event):
        self.settled += 1
        # The tag we gave the delivery (Proton hands it back as a str).
        emit({"event": "settled", "index": int(event.delivery.tag),
              "state": str(event.delivery.remote_state)})
        if self.settled >= self.a.count:
            emit({"event": "done", "sent": self.sent, "settled": self.settled, "why": "count"})
            self.timer.cancel()
            event.connection.close()

    def on_link_closed(self, event):
        err = event.link.remote_condition
        emit({"event": "detached", "condition": str(err.name) if err else None,
              "description": err.description if err else None})
        self.timer.cancel()
        event.connection.close()

    def on_link_error(self, event):
        self.on_link_closed(event)
        event.link.close()

    def on_transport_error(self, event):
        # The broker went away (e.g. killed): report and stop rather than reconnect.
        c = event.transport.condition
        emit({"event": "error", "condition": c.name if c else None,
              "description": c.description if c else None})
        emit({"event": "done", "sent": self.sent, "settled": self.settled, "why": "error"})
        self.timer.cancel()
        event.container.stop()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["sub", "pub"])
    p.add_argument("url")
    p.add_argument("address")
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--filter", action="append")
    p.add_argument("--filter-long", action="append")
    p.add_argument("--filter-timestamp", action="append")
    p.add_argument("--credit", type=int, default=0)
    p.add_argument("--stall-after", type=int, default=0)
    p.add_argument("--stall-for", type=float, default=2.0)
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--mech")
    p.add_argument("--close-link-first", action="store_true")
    p.add_argument("--body", default="hello")
    p.add_argument("--size", type=int, default=0)
    p.add_argument("--durable", action="store_true")
    p.add_argument("--prop", action="append")
    a = p.parse_args()
    if a.mode == "pub" and not a.count:
        a.count = 1
    Container(Sub(a) if a.mode == "sub" else Pub(a)).run()


if __name__ == "__main__":
    main()
