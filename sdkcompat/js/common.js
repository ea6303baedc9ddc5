// What the Go driver (../js_test.go) hands the tests, and helpers both test files share.
//
//   REMOTEASSIST_BASE_URL  https://127.0.0.1:PORT/beta of a "remoteassist serve --tls"
//   REMOTEASSIST_PROFILE   the profile it serves: documented or graph
//   REMOTEASSIST_TOKENS    JSON {"TENANT": {"readWrite": "...", "read": "..."}}, from "remoteassist token"
//   NODE_EXTRA_CA_CERTS    its ca.pem, which Node reads at start-up to verify the server
//   TZ                     UTC, so that the SDKs' reading of dates is the same on every machine
//   REMOTEASSIST_ADMIN_URL    http://127.0.0.1:PORT of its admin API (the test control plane)
//   REMOTEASSIST_ADMIN_TOKEN  the admin API's bearer token
import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";

function required(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: run these tests through "go test ./sdkcompat" (js_test.go)`);
  }
  return v;
}

export const baseUrl = required("REMOTEASSIST_BASE_URL");
export const profile = required("REMOTEASSIST_PROFILE");
required("NODE_EXTRA_CA_CERTS");
if (process.env.TZ !== "UTC") {
  // Both SDKs read Graph's zone-less innerError.date as local time: the tests pin what they make
  // of it under UTC (and, where they say so, under another zone they set themselves).
  throw new Error(`TZ is ${JSON.stringify(process.env.TZ)}, not UTC: run these tests through "go test ./sdkcompat" (js_test.go)`);
}
const tokens = JSON.parse(required("REMOTEASSIST_TOKENS"));
const adminUrl = required("REMOTEASSIST_ADMIN_URL");
const adminToken = required("REMOTEASSIST_ADMIN_TOKEN");

/** The host the SDKs' token providers must be told they may send tokens to. */
export const host = new URL(baseUrl).hostname;

/** A token for tenant: "readWrite" (GET and PATCH) or "read" (GET only). */
export function token(tenant, kind = "readWrite") {
  const t = tokens[tenant]?.[kind];
  if (!t) {
    throw new Error(`no ${kind} token for tenant ${tenant}: add it to js_test.go's tenants`);
  }
  return t;
}

/** What a tenant that never wrote reads: the seed's notConfigured, or today's Graph's disabled. */
export const unwrittenState = profile === "graph" ? "disabled" : "notConfigured";

/** The states the profile accepts, as its 400 message lists them. */
export const allowedValues = profile === "graph" ? "disabled, enabled" : "notConfigured, disabled, enabled";

/** Whether a successful PATCH answers 204 without a body (graph) rather than 200 with the entity. */
export const patchNoContent = profile === "graph";

export const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const odataType = "#microsoft.graph.remoteAssistanceSettings";

/**
 * Reads a fetch body (string, bytes or stream) into a Buffer of its own: a copy, so that what an
 * attempt sent stays as it was whatever the SDK does with its buffer afterwards.
 */
export async function bodyBytes(body) {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (typeof body === "string") return Buffer.from(body);
  if (body instanceof ArrayBuffer) return Buffer.from(new Uint8Array(body));
  if (ArrayBuffer.isView(body)) return Buffer.from(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
  if (typeof body.getReader === "function") {
    const chunks = [];
    const reader = body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(Buffer.from(value));
    }
    return Buffer.concat(chunks);
  }
  throw new Error(`unsupported body ${Object.prototype.toString.call(body)}`);
}

/** Node's own fetch, as it was before a test put a recorder in its place. */
export const realFetch = globalThis.fetch;

/**
 * A fetch that records every request as it left the SDK's middleware and the response as it
 * came back: for the Kiota pipeline's CustomFetchHandler, and in place of the global fetch that
 * graph-client's HTTPMessageHandler calls. Each exchange has the request's url, method, headers
 * and body (its bytes, copied), sentAt and answeredAt (performance.now() when fetch was called
 * and when it resolved with the response's headers), status, responseHeaders, and responseBody:
 * a promise of the response body's bytes, read from a clone (Response.clone tees the body), so
 * the SDK reads its own as it would without the recorder.
 */
export function recordingFetch(inner = realFetch) {
  const exchanges = [];
  const fetchAndRecord = async (url, init = {}) => {
    const headers = new Headers(init.headers);
    const sent = await bodyBytes(init.body);
    const ex = { url: new URL(url), method: init.method, headers, body: sent, sentAt: performance.now() };
    exchanges.push(ex);
    // What the SDK handed over goes on unchanged; only a stream, read above, is replaced by
    // its bytes.
    const streamed = typeof init.body?.getReader === "function";
    const res = await inner(url, streamed ? { ...init, body: sent } : init);
    ex.answeredAt = performance.now();
    ex.status = res.status;
    ex.responseHeaders = res.headers;
    ex.responseBody = res.clone().arrayBuffer().then((b) => Buffer.from(b));
    return res;
  };
  fetchAndRecord.exchanges = exchanges;
  fetchAndRecord.last = () => exchanges[exchanges.length - 1];
  fetchAndRecord.dump = () =>
    exchanges
      .map((e) => `> ${e.method} ${e.url}\n${[...e.headers].filter(([k]) => k !== "authorization").map(([k, v]) => `> ${k}: ${v}`).join("\n")}\n< ${e.status}`)
      .join("\n");
  return fetchAndRecord;
}

/** The JSON a recorded request carried, gunzipped when it says gzip. */
export function sentJSON(ex) {
  const raw = ex.headers.get("content-encoding") === "gzip" ? gunzipSync(ex.body) : ex.body;
  return JSON.parse(raw.toString("utf8"));
}

/**
 * Checks the ids of a Graph error. innerError.request-id is the server's (a UUID), the response's
 * request-id header. innerError.client-request-id and the response's client-request-id header
 * are the client-request-id the client sent, which the service echoes; when the client sent none
 * (sent null), they are the request-id.
 */
export function assertIds({ requestId, clientRequestId }, headers, sent) {
  assert.match(requestId ?? "", uuid, "innerError.request-id");
  assert.equal(requestId, headerValue(headers, "request-id"), "innerError.request-id is the response's request-id header");
  const want = sent ?? requestId;
  const what = sent === null ? "the request-id, as the client sent no client-request-id" : `the client-request-id the client sent (${sent})`;
  assert.equal(clientRequestId, want, `innerError.client-request-id is ${what}`);
  assert.equal(headerValue(headers, "client-request-id"), want, `the response's client-request-id header is ${what}`);
}

function headerValue(headers, name) {
  if (typeof headers?.get === "function") return headers.get(name);
  const v = headers?.[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Graph's innerError.date: UTC, to the second, without a zone (2026-11-28T12:14:16). */
export const zonelessDate = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/;

/**
 * Checks the raw innerError.date of an error response against its Date header and returns it as
 * milliseconds since the epoch, read as UTC. The service builds the envelope before net/http
 * stamps the Date header, so the date is not after the header (both to the second); and it is
 * within minutes of it, far less than any zone's offset from UTC (15 minutes at least), which is
 * what a date written in the server's local time would be off by.
 */
export function assertErrorDate(raw, ex) {
  assert.match(raw, zonelessDate, "innerError.date as Graph writes it: UTC, to the second, no zone");
  const utc = Date.parse(raw + "Z");
  const header = Date.parse(ex.responseHeaders.get("date"));
  assert.ok(!Number.isNaN(header), `Date header ${ex.responseHeaders.get("date")}`);
  assert.ok(header >= utc && header - utc < 10 * 60_000, `innerError.date ${raw} (as UTC) against the Date header ${ex.responseHeaders.get("date")}`);
  return utc;
}

/** The raw JSON of a recorded response. */
export async function responseJSON(ex) {
  return JSON.parse((await ex.responseBody).toString("utf8"));
}

/** A request to the admin API (README: "Drive it from your test suite"), with Node's own fetch. */
async function admin(method, path, body) {
  const res = await realFetch(adminUrl + path, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  assert.ok(res.ok, `admin API ${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** A fault rule: the next request of tenant with method is answered 429 with Retry-After: 1. */
export async function throttleNext(tenant, method) {
  return admin("POST", "/admin/faults", { match: { tenant, method }, effect: { status: 429, retryAfter: 1 }, times: 1 });
}

/** The journal of tenant's API requests, oldest first, as the server received them. */
export async function journal(tenant) {
  return (await admin("GET", `/admin/journal?tenant=${encodeURIComponent(tenant)}`)).entries;
}

/** The tenant's settings as the store holds them. */
export async function stored(tenant) {
  return admin("GET", `/admin/tenants/${encodeURIComponent(tenant)}/settings`);
}

/**
 * Checks a call answered 429 with Retry-After: 1 by a fault rule, then retried by the SDK: two
 * exchanges on the wire and in the server's journal, the 429 carrying Retry-After, the retry the
 * same method and URL, sent at least the Retry-After after the 429 came back, answered okStatus.
 * Node's timers count whole milliseconds (libuv's clock), so a sleep of 1000 ms ends more than
 * 999 ms later on performance.now()'s finer clock: that is the lower bound. No upper bound: how
 * much later the retry leaves depends on the machine's load.
 */
export async function assertRetriedAfter429(exchanges, tenant, okStatus) {
  const dump = () => exchanges.map((e) => `> ${e.method} ${e.url} ${JSON.stringify(Object.fromEntries([...e.headers].filter(([k]) => k !== "authorization")))}\n< ${e.status}`).join("\n");
  assert.equal(exchanges.length, 2, `want the 429 and one retry:\n${dump()}`);
  const [first, retry] = exchanges;
  assert.equal(first.status, 429, dump());
  assert.equal(first.responseHeaders.get("retry-after"), "1", "the 429 carries Retry-After");
  assert.equal(retry.status, okStatus, dump());
  assert.deepEqual([retry.method, retry.url.href], [first.method, first.url.href], "the retry is the same request");
  const gap = retry.sentAt - first.answeredAt;
  assert.ok(gap >= 999, `the retry left ${gap.toFixed(1)} ms after the 429 came back, before its Retry-After of 1 s`);
  const seen = await journal(tenant);
  assert.deepEqual(seen.map((e) => [e.method, e.status, e.retryAfter]), [[first.method, 429, 1], [first.method, okStatus, undefined]],
    `the server's journal of ${tenant}: ${JSON.stringify(seen)}`);
  assert.ok(seen[0].rule, "the 429 was the fault rule's");
  return { first, retry, gap };
}
