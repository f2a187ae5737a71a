// Runs the console page's script against a live appliance, with just enough of a DOM for
// it (elements by id that record their innerHTML / textContent) and `fetch` pointed at the
// appliance's console. Prints what the page rendered as one JSON line.
//
// usage: node console_page.js PAGE_FILE BASE_URL|unreachable
"use strict";
const fs = require("fs");
const vm = require("vm");

const [page, base] = process.argv.slice(2);
const html = fs.readFileSync(page, "utf8");
const script = html.slice(html.indexOf("<script>") + 8, html.lastIndexOf("</script>"));
const elements = {};
const document = {
  getElementById(id) {
    if (!elements[id]) elements[id] = { innerHTML: "", textContent: "" };
    return elements[id];
  },
};
const fetchStub = (path, opts) => base === "unreachable"
  ? Promise.reject(new Error("connection refused"))
  : fetch(base + path, opts);
const errors = [];
process.on("unhandledRejection", (e) => errors.push(String(e)));
const timers = [];
const sandbox = {
  document, fetch: fetchStub, console,
  setInterval: (f) => { timers.push(f); return timers.length; },
};
vm.runInNewContext(script, sandbox);
// The script calls tick() once itself; a second call exercises the rates from `prev`.
setTimeout(async () => {
  for (const f of timers) {
    try { await f(); } catch (e) { errors.push(String(e)); }
  }
  setTimeout(() => {
    const out = {};
    for (const [id, e] of Object.entries(elements)) out[id] = e.innerHTML || e.textContent;
    console.log(JSON.stringify({ rendered: out, errors }));
  }, 300);
}, 500);
