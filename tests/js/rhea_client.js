#!/usr/bin/env node
// An AMQP 1.0 client on rhea that the end-to-end tests drive; prints one JSON object per
// line, like tests/clients/proton_client.py, with the same arguments:
//   rhea_client.js sub URL ADDRESS [--count N] [--timeout S] [--filter K=V]... [--credit N]
//                  [--filter-long K=N]... [--stall-after N --stall-for S]
//                  [--user U --password P] [--mech MECH] [--close-link-first]
//   rhea_client.js pub URL ADDRESS [--count N] [--body TEXT] [--size BYTES] [--durable]
//                  [--prop K=V]... [--user U --password P] [--mech MECH]
// Large ulongs (above 2^53) come from rhea as 8-byte buffers and are printed as
// {"binary": base64} like any buffer; the tests read them back as big-endian numbers.
"use strict";
const rhea = require("rhea");

function parse(argv) {
  const a = { mode: argv[0], url: argv[1], address: argv[2], count: 0, timeout: 10,
    filter: [], filterLong: [], credit: 0, stallAfter: 0, stallFor: 2, body: "hello", size: 0,
    durable: false, prop: [] };
  for (let i = 3; i < argv.length; i++) {
    const k = argv[i];
    const v = () => argv[++i];
    switch (k) {
      case "--count": a.count = Number(v()); break;
      case "--timeout": a.timeout = Number(v()); break;
      case "--filter": a.filter.push(v()); break;
      case "--filter-long": a.filterLong.push(v()); break;
      case "--mech": a.mech = v(); break;
      case "--close-link-first": a.closeLinkFirst = true; break;
      case "--credit": a.credit = Number(v()); break;
      case "--stall-after": a.stallAfter = Number(v()); break;
      case "--stall-for": a.stallFor = Number(v()); break;
      case "--user": a.user = v(); break;
      case "--password": a.password = v(); break;
      case "--body": a.body = v(); break;
      case "--size": a.size = Number(v()); break;
      case "--durable": a.durable = true; break;
      case "--prop": a.prop.push(v()); break;
      default: throw new Error("unknown argument " + k);
    }
  }
  if (a.mode === "pub" && !a.count) a.count = 1;
  return a;
}

function plain(v) {
  if (Buffer.isBuffer(v)) return { binary: v.toString("base64") };
  if (v && v.typecode === 0x75 && Buffer.isBuffer(v.content)) {
    return { binary: v.content.toString("base64") };
  }
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") {
    const o = {};
    for (const k of Object.keys(v)) o[k] = plain(v[k]);
    return o;
  }
  if (typeof v === "bigint") return Number(v);
  return v;
}

function emit(o) { process.stdout.write(JSON.stringify(o) + "\n"); }

const a = parse(process.argv.slice(2));
const u = new URL(a.url.includes("://") ? a.url : "amqp://" + a.url);
const opts = { host: u.hostname, port: Number(u.port || 5672), reconnect: false };
if (a.user) { opts.username = a.user; opts.password = a.password; }
else if (a.mech === "ANONYMOUS") {
  // rhea picks SASL ANONYMOUS for a user name without a password (and no SASL at all
  // without a user name).
  opts.username = "anonymous";
}
else if (u.username) { opts.username = u.username; opts.password = u.password; }
const container = rhea.create_container();
const conn = container.connect(opts);
let received = 0, sent = 0, settled = 0, stalled = false, done = false, recvLink = null;

function finish(o) {
  if (done) return;
  done = true;
  emit(o);
  clearTimeout(timer);
  // --close-link-first: detach the receiving link before closing the connection.
  if (a.closeLinkFirst && recvLink && recvLink.is_open()) recvLink.close();
  conn.close();
  setTimeout(() => process.exit(0), 200);
}
const timer = setTimeout(() => finish({ event: "done", received, sent, settled,
  why: "timeout" }), a.timeout * 1000);

if (a.mode === "sub") {
  const source = { address: a.address };
  if (a.filter.length || a.filterLong.length) {
    source.filter = {};
    for (const f of a.filter) {
      const i = f.indexOf("=");
      const key = f.slice(0, i);
      source.filter[key] = rhea.types.wrap_described(f.slice(i + 1), key);
    }
    for (const f of a.filterLong) {
      const i = f.indexOf("=");
      const key = f.slice(0, i);
      const n = rhea.types.wrap_long(Number(f.slice(i + 1)));
      source.filter[key] = rhea.types.wrap_described(n, key);
    }
  }
  const credit = a.credit || 0;
  const recv = conn.open_receiver({ source, credit_window: credit ? 0 : 100,
    autoaccept: true });
  recvLink = recv;
  if (credit) recv.add_credit(credit);
  recv.on("receiver_open", () => emit({ event: "attached" }));
  recv.on("message", (ctx) => {
    if (done) return;
    const m = ctx.message;
    received++;
    emit({ event: "message", subject: m.subject || null,
      annotations: plain(m.message_annotations || {}),
      properties: plain(m.application_properties || {}),
      content_type: m.content_type || null, durable: !!m.durable, body: plain(m.body) });
    if (a.count && received >= a.count) {
      finish({ event: "done", received, why: "count" });
      return;
    }
    if (credit && !stalled && recv.credit === 0) {
      if (a.stallAfter && received >= a.stallAfter) {
        stalled = true;
        emit({ event: "stalled", received });
        setTimeout(() => {
          stalled = false;
          emit({ event: "resumed", received });
          recv.add_credit(credit);
        }, a.stallFor * 1000);
      } else {
        recv.add_credit(credit);
      }
    }
  });
  recv.on("receiver_close", (ctx) => {
    if (done) return;
    const e = ctx.receiver.error || {};
    emit({ event: "detached", condition: e.condition || null,
      description: e.description || null });
    finish({ event: "done", received, why: "detached" });
  });
} else {
  const sender = conn.open_sender(a.address);
  sender.on("sendable", () => {
    while (sender.sendable() && sent < a.count) {
      let body = a.body;
      if (a.size) {
        body = Buffer.alloc(a.size);
        for (let i = 0; i < a.size; i++) body[i] = (i * 7 + sent) % 251;
        body = rhea.message.data_section(body);
      }
      const props = {};
      for (const p of a.prop) { const i = p.indexOf("="); props[p.slice(0, i)] = p.slice(i + 1); }
      sender.send({ body, durable: a.durable, subject: a.address,
        application_properties: a.prop.length ? props : undefined });
      sent++;
    }
  });
  const onSettled = (state) => (ctx) => {
    settled++;
    emit({ event: "settled", state });
    if (settled >= a.count) finish({ event: "done", sent, settled, why: "count" });
  };
  sender.on("accepted", onSettled("accepted"));
  sender.on("rejected", onSettled("rejected"));
  sender.on("released", onSettled("released"));
  sender.on("modified", onSettled("modified"));
  sender.on("sender_close", (ctx) => {
    const e = ctx.sender.error || {};
    emit({ event: "detached", condition: e.condition || null,
      description: e.description || null });
    finish({ event: "done", sent, settled, why: "detached" });
  });
}
conn.on("connection_error", (ctx) => {
  // A close from the peer sets connection.error; a refused SASL outcome comes as
  // ctx.error (rhea's transport error).
  const e = ctx.connection.error || ctx.error || {};
  emit({ event: "error", condition: e.condition || null, description: e.description || null });
});
conn.on("disconnected", (ctx) => {
  if (!done) finish({ event: "error", condition: "disconnected",
    description: String(ctx.error || "") });
});
