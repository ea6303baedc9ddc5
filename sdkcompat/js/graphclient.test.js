// @microsoft/microsoft-graph-client 3.0.7 against "remoteassist serve --tls": the client sends
// the token only to https URLs of Graph's hosts or of the customHosts it is given.
import assert from "node:assert/strict";
import { test } from "node:test";
import graph from "@microsoft/microsoft-graph-client";

import { allowedValues, assertIds, baseUrl, host, odataType, patchNoContent, profile, token, unwrittenState, uuid } from "./common.js";

const { Client, GraphError } = graph;
const path = "/deviceManagement/remoteAssistanceSettings";

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

test(`graph-client (${profile}): an invalid value is a typed GraphError 400`, async () => {
  const c = newClient("gc-invalid");
  const err = await c.api(path).patch({ remoteAssistanceState: "on" }).then(
    () => assert.fail("PATCH with an invalid state succeeded"),
    (e) => e,
  );
  assert.ok(err instanceof GraphError, `error is ${err?.constructor?.name}: ${err}`);
  assert.equal(err.statusCode, 400);
  assert.equal(err.code, "BadRequest");
  assert.match(err.message, /'remoteAssistanceState'/);
  assert.ok(err.message.includes(`Allowed values: ${allowedValues}.`), err.message);
  assert.match(err.requestId, uuid);
  assert.ok(err.date instanceof Date && Math.abs(Date.now() - err.date.getTime()) < 10 * 60_000, `date ${err.date}`);
  assert.equal(err.headers.get("request-id"), err.requestId);
  const s = await c.api(path).get();
  assert.equal(s.remoteAssistanceState, unwrittenState, "a refused PATCH changed nothing");
});

test(`graph-client (${profile}): a read-only token gets a typed 403`, async () => {
  const err = await newClient("gc-forbidden", "read").api(path).patch({ blockChat: true }).then(
    () => assert.fail("PATCH with a read-only token succeeded"),
    (e) => e,
  );
  assert.ok(err instanceof GraphError);
  assert.equal(err.statusCode, 403);
  assert.equal(err.code, "Forbidden");
  assert.match(err.message, /DeviceManagementServiceConfig\.ReadWrite\.All/);
  assertIds(err.requestId, err.headers.get("client-request-id"), err.headers);
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
