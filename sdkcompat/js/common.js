// What the Go driver (../js_test.go) hands the tests, and helpers both test files share.
//
//   REMOTEASSIST_BASE_URL  https://127.0.0.1:PORT/beta of a "remoteassist serve --tls"
//   REMOTEASSIST_PROFILE   the profile it serves: documented or graph
//   REMOTEASSIST_TOKENS    JSON {"TENANT": {"readWrite": "...", "read": "..."}}, from "remoteassist token"
//   NODE_EXTRA_CA_CERTS    its ca.pem, which Node reads at start-up to verify the server
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
const tokens = JSON.parse(required("REMOTEASSIST_TOKENS"));

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

/** Reads a fetch body (string, bytes or stream) into a Buffer. */
export async function bodyBytes(body) {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (typeof body === "string") return Buffer.from(body);
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return Buffer.from(body.buffer ?? body, body.byteOffset ?? 0, body.byteLength);
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

/**
 * A fetch that records every request as it left the SDK's middleware and the response as it
 * came back, for the Kiota pipeline's CustomFetchHandler.
 */
export function recordingFetch() {
  const exchanges = [];
  const fetchAndRecord = async (url, init = {}) => {
    const headers = new Headers(init.headers);
    const sent = await bodyBytes(init.body);
    const ex = { url: new URL(url), method: init.method, headers, body: sent };
    exchanges.push(ex);
    // What the SDK handed over goes on unchanged; only a stream, read above, is replaced by
    // its bytes.
    const streamed = typeof init.body?.getReader === "function";
    const res = await fetch(url, streamed ? { ...init, body: sent } : init);
    ex.status = res.status;
    ex.responseHeaders = res.headers;
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

/** Checks the Graph error ids against the response headers. */
export function assertIds(requestId, clientRequestId, headers) {
  assert.match(requestId, uuid, "request-id");
  assert.equal(requestId, headerValue(headers, "request-id"), "innerError.request-id is the response's request-id header");
  assert.equal(clientRequestId, headerValue(headers, "client-request-id"), "innerError.client-request-id is the response's header");
}

function headerValue(headers, name) {
  if (typeof headers?.get === "function") return headers.get(name);
  const v = headers?.[name];
  return Array.isArray(v) ? v[0] : v;
}
