# Usage: /usr/bin/python3 capture_proton.py OUT_PLAIN OUT_SASL_ANON OUT_SASL_PLAIN
# (written to amqp/fuzz/corpus/amqp_frame/proton-py-*; read by tests/proton_capture.rs)
# Capture the exact bytes Qpid Proton (C engine, Python binding) writes for a receiving
# client: header, open, begin, attach with a source filter, flow. No socket needed.
from proton import Connection, Transport, symbol
import sys

MECHS = bytes.fromhex("0000002202010000" "005340c01501e01202a309") + b"ANONYMOUS" + b"\x05PLAIN"
OUTCOME = bytes.fromhex("0000001002010000" "005344c0030150 00".replace(" ", ""))

def run(sasl, path, mech="ANONYMOUS"):
    c = Connection()
    c.container = "proton-py-client"
    c.hostname = "localhost"
    t = Transport()
    if sasl:
        s = t.sasl()
        s.allowed_mechs(mech)
        s.allow_insecure_mechs = True
        if mech == "PLAIN":
            c.user = "alice"
            c.password = "secret"
    t.bind(c)
    c.open()
    ssn = c.session()
    ssn.open()
    r = ssn.receiver("recv-1")
    r.source.address = "opra/SPY/#"
    f = r.source.filter
    f.put_map()
    f.enter()
    f.put_symbol("tickwire:format")
    f.put_described()
    f.enter()
    f.put_symbol("tickwire:format")
    f.put_string("binary")
    f.exit()
    f.exit()
    r.target.address = None
    r.open()
    r.flow(100)
    snd = ssn.sender("pub-1")
    snd.target.address = "publish/news"
    snd.open()
    out = b""
    if sasl:
        t.push(b"AMQP\x03\x01\x00\x00" + MECHS)
        while t.pending() > 0:
            n = t.pending()
            out += t.peek(n)
            t.pop(n)
        t.push(OUTCOME + b"AMQP\x00\x01\x00\x00")
    while t.pending() > 0:
        n = t.pending()
        out += t.peek(n)
        t.pop(n)
    open(path, "wb").write(out)
    print(path, len(out))

run(False, sys.argv[1])
run(True, sys.argv[2])
run(True, sys.argv[3], "PLAIN")
