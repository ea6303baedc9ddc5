// @microsoft/microsoft-graph-client 3.0.7 against "remoteassist serve --tls": the client sends
// the token only to https URLs of Graph's hosts or of the customHosts it is given.
import assert from "node:assert/strict";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import graph from "@microsoft/microsoft-graph-client";

import {
  allowedValues, assertErrorDate, assertIds, assertRetriedAfter429, baseUrl, host, odataType, patchNoContent, profile,
  recordingFetch, responseJSON, sentJSON, stored, throttleNext, token, unwrittenState, uuid,
} from "./common.js";

const { Client, GraphError } = graph;
const path = "/deviceManagement/remoteAssistanceSettings";

// graph-client's last middleware, HTTPMessageHandler, calls the global fetch: the recorder takes
// its place (in this file's process only: node --test runs each file in a process of its own),
// and the client's default middleware chain is left as it is.
const wire = recordingFetch(globalThis.fetch);
globalThis.fetch = wire;

/** The exchanges recorded while fn ran, and what fn returned or threw. */
async function recorded(fn) {
  const n = wire.exchanges.length;
  const outcome = await fn().then((value) => ({ value }), (error) => ({ error }));
  return { ...outcome, exchanges: wire.exchanges.slice(n) };
}

/** A client of the emulator as a user configures it: its root, beta, and its host allowed. */
function newClient(tenant, kind = "readWrite", customHosts = new Set([host])) {
  return Client.init({
    baseUrl: baseUrl.replace(/beta$/, ""), // the client appends defaultVersion
    defaultVersion: "beta",
    customHosts,
    authProvider: (done) => done(null, token(tenant, kind)),
  });
}

test(`graph-client (${profile}): GET a never-written tenant's typed values`, async () => {
  const s = await newClient("gc-fresh", "read").api(path).get();
  assert.equal(s["@odata.type"], odataType);
  assert.equal(typeof s.id, "string");
  assert.equal(s.remoteAssistanceState, unwrittenState);
  assert.equal(s.allowSessionsToUnenrolledDevices, false);
  assert.equal(s.blockChat, false);
  assert.equal(s["@odata.context"], `${baseUrl}/$metadata#deviceManagement/remoteAssistanceSettings/$entity`);
});

test(`graph-client (${profile}): PATCH, then read back`, async () => {
  const c = newClient("gc-patch");
  const res = await c.api(path).responseType("raw").patch({ remoteAssistanceState: "enabled", blockChat: true });
  if (patchNoContent) {
    assert.equal(res.status, 204);
    assert.equal(await res.text(), "");
  } else {
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.remoteAssistanceState, "enabled");
    assert.equal(body.blockChat, true);
  }
  // The default response type: the entity (documented), or nothing (graph's 204).
  const again = await c.api(path).patch({ allowSessionsToUnenrolledDevices: true });
  if (patchNoContent) {
    assert.ok(again === undefined || again === null || again === "", `204 PATCH returned ${JSON.stringify(again)}`);
  } else {
    assert.equal(again.allowSessionsToUnenrolledDevices, true);
  }
  const s = await c.api(path).get();
  assert.deepEqual(
    [s.remoteAssistanceState, s.blockChat, s.allowSessionsToUnenrolledDevices],
    ["enabled", true, true],
  );
});

test(`graph-client (${profile}): $select`, async () => {
  const s = await newClient("gc-select", "read").api(path).select(["blockChat"]).get();
  assert.deepEqual(Object.keys(s).sort(), ["@odata.context", "@odata.type", "blockChat", "id"]);
  assert.match(s["@odata.context"], /remoteAssistanceSettings\(blockChat\)\/\$entity$/);
});

/** An invalid PATCH through c: the GraphError and the one exchange on the wire. */
async function invalidPatch(c) {
  const { value, error, exchanges } = await recorded(() => c.api(path).patch({ remoteAssistanceState: "on" }));
  assert.ok(error, `PATCH with an invalid state succeeded: ${JSON.stringify(value)}`);
  assert.equal(exchanges.length, 1, "a 400 is not retried");
  return { err: error, ex: exchanges[0] };
}

test(`graph-client (${profile}): an invalid value is a typed GraphError 400`, async () => {
  const c = newClient("gc-invalid");
  const { err, ex } = await invalidPatch(c);
  assert.ok(err instanceof GraphError, `error is ${err?.constructor?.name}: ${err}`);
  assert.equal(err.statusCode, 400);
  assert.equal(err.code, "BadRequest");
  assert.match(err.message, /'remoteAssistanceState'/);
  assert.ok(err.message.includes(`Allowed values: ${allowedValues}.`), err.message);
  assert.match(err.requestId, uuid);
  assert.equal(err.headers.get("request-id"), err.requestId);
  // innerError.date on the wire is Graph's zone-less UTC; graph-client makes it a Date with
  // new Date(innerError.date), which reads a date-time without a zone as local time: under the
  // TZ=UTC these tests run in, the UTC time.
  const raw = (await responseJSON(ex)).error.innerError.date;
  const utc = assertErrorDate(raw, ex);
  assert.ok(err.date instanceof Date, `date ${err.date}`);
  assert.equal(err.date.getTime(), utc, `graph-client read innerError.date ${raw} as ${err.date.toISOString()}`);
  const s = await c.api(path).get();
  assert.equal(s.remoteAssistanceState, unwrittenState, "a refused PATCH changed nothing");
});

test(`graph-client (${profile}): innerError.date is read as local time (characterization)`, async () => {
  // Under any zone but UTC, GraphError.date is off by the zone's offset. Asia/Kolkata has no
  // daylight saving time, so its offset is +05:30 on every date: the Date graph-client makes is
  // 5 h 30 min before the UTC time the server wrote.
  process.env.TZ = "Asia/Kolkata"; // Node reads TZ again when it is assigned
  try {
    const { err, ex } = await invalidPatch(newClient("gc-invalid"));
    const utc = assertErrorDate((await responseJSON(ex)).error.innerError.date, ex);
    assert.equal(utc - err.date.getTime(), 5.5 * 3600_000,
      `graph-client changed how it reads innerError.date (${err.date.toISOString()} for ${new Date(utc).toISOString()}): update this characterization and sdkcompat/README.md`);
  } finally {
    process.env.TZ = "UTC";
  }
  assert.equal(new Date("2026-01-01T00:00:00").getTime(), Date.UTC(2026, 0, 1), "back in UTC");
});

test(`graph-client (${profile}): a read-only token gets a typed 403`, async () => {
  const { value, error: err, exchanges } = await recorded(() => newClient("gc-forbidden", "read").api(path).patch({ blockChat: true }));
  assert.ok(err, `PATCH with a read-only token succeeded: ${JSON.stringify(value)}`);
  assert.ok(err instanceof GraphError);
  assert.equal(err.statusCode, 403);
  assert.equal(err.code, "Forbidden");
  assert.match(err.message, /DeviceManagementServiceConfig\.ReadWrite\.All/);
  assert.equal(exchanges.length, 1, "a 403 is not retried");
  // graph-client's TelemetryHandler sends a client-request-id of its own making; the service
  // echoes it, in the envelope and in the header, beside a request-id of its own.
  const sent = exchanges[0].headers.get("client-request-id");
  assert.match(sent ?? "", uuid, "graph-client sends a client-request-id");
  const inner = JSON.parse(err.body).innerError;
  assert.equal(err.requestId, inner["request-id"]);
  assertIds({ requestId: inner["request-id"], clientRequestId: inner["client-request-id"] }, err.headers, sent);
  assert.notEqual(inner["request-id"], sent, "the request-id is the server's own");
  assert.deepEqual((await responseJSON(exchanges[0])).error.innerError, inner, "GraphError.body holds the envelope as sent");
});

test(`graph-client (${profile}): without the host in customHosts the token is withheld (401)`, async () => {
  const err = await newClient("gc-fresh", "read", new Set()).api(path).get().then(
    () => assert.fail("GET without a token succeeded"),
    (e) => e,
  );
  assert.ok(err instanceof GraphError);
  assert.equal(err.statusCode, 401);
  assert.equal(err.code, "InvalidAuthenticationToken");
});

// graph-client's default chain has a RetryHandler (429, 503, 504; Retry-After honoured) and no
// compression handler: a caller that wants a gzip body compresses it and says so.

test(`graph-client (${profile}): a throttled GET is retried after its Retry-After`, async () => {
  const tenant = "gc-retry-get";
  await throttleNext(tenant, "GET");
  const { value: s, error, exchanges } = await recorded(() => newClient(tenant, "read").api(path).get());
  assert.ifError(error);
  assert.equal(s.remoteAssistanceState, unwrittenState);
  const { first, retry } = await assertRetriedAfter429(exchanges, tenant, 200);
  assert.equal(first.headers.get("retry-attempt"), null);
  assert.equal(retry.headers.get("retry-attempt"), "1", "graph-client's RetryHandler numbers the retry");
  assert.equal(retry.headers.get("client-request-id"), first.headers.get("client-request-id"), "the retry keeps its client-request-id");
});

test(`graph-client (${profile}): a throttled gzip PATCH is retried after its Retry-After with the same bytes, and stored`, async () => {
  const tenant = "gc-retry-patch";
  const change = { remoteAssistanceState: "enabled", blockChat: true };
  const gzipped = gzipSync(JSON.stringify(change));
  await throttleNext(tenant, "PATCH");
  const c = newClient(tenant);
  const { error, exchanges } = await recorded(() =>
    c.api(path).header("Content-Type", "application/json").header("Content-Encoding", "gzip").patch(gzipped));
  assert.ifError(error);
  const { first, retry } = await assertRetriedAfter429(exchanges, tenant, patchNoContent ? 204 : 200);
  assert.ok(first.body.equals(gzipped), "the first attempt sent the gzip body as given");
  assert.ok(retry.body.equals(first.body), `the retry sent other bytes: ${retry.body.toString("hex")}, first ${first.body.toString("hex")}`);
  for (const ex of [first, retry]) {
    assert.equal(ex.headers.get("content-encoding"), "gzip");
    assert.deepEqual(sentJSON(ex), change);
  }
  assert.equal(retry.headers.get("retry-attempt"), "1");
  const s = await stored(tenant);
  assert.deepEqual([s.remoteAssistanceState, s.blockChat, s.allowSessionsToUnenrolledDevices], ["enabled", true, false], JSON.stringify(s));
});
