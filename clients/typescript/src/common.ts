// The checks both profiles share, on a client openapi-fetch builds from the types
// openapi-typescript generated (./schema.ts, written next to this file by the Go test from the
// profile's served document). No serializer is configured: openapi-fetch's defaults are what
// is under test.

import createClient from "openapi-fetch";

import type { components, paths } from "./schema.js";
import { assertType, check, env, type Equals, type Interchangeable, type IsOptional, sameKeys } from "./check.js";

export const path = "/deviceManagement/remoteAssistanceSettings";

export type State = components["schemas"]["microsoft.graph.remoteAssistanceState"];
export type Selected = components["schemas"]["microsoft.graph.remoteAssistanceSettings.selected"];
export type ODataError = components["schemas"]["ODataError"];

// GET answers the $select schema: the annotations and id always there, the settings optional
// (a $select may leave them out).
assertType<Equals<IsOptional<Selected, "id">, false>>();
assertType<Equals<Selected["id"], string>>();
assertType<Equals<IsOptional<Selected, "@odata.context">, false>>();
assertType<Equals<IsOptional<Selected, "blockChat">, true>>();
assertType<Equals<Selected["blockChat"], boolean | undefined>>();
assertType<Equals<Selected["allowSessionsToUnenrolledDevices"], boolean | undefined>>();
assertType<Equals<Selected["remoteAssistanceState"], State | undefined>>();
// Every error is Graph's envelope, code, message and innerError ids required.
assertType<Equals<ODataError["error"]["code"], string>>();
assertType<Equals<ODataError["error"]["message"], string>>();
assertType<Equals<ODataError["error"]["innerError"]["request-id"], string>>();
assertType<Equals<ODataError["error"]["innerError"]["client-request-id"], string>>();
assertType<Equals<ODataError["error"]["target"], string | undefined>>();

export const settingsID = env("RA_SETTINGS_ID");

// The client: the served base URL, the read-write token; nothing else configured.
export const client = createClient<paths>({
  baseUrl: env("RA_BASE_URL"),
  headers: { Authorization: `Bearer ${env("RA_TOKEN")}` },
});

let ids = 0;

// requestID returns a fresh client-request-id for one request.
export function requestID(): string {
  ids++;
  return `ts-client-${ids}-${Date.now()}`;
}

// checkIDs checks the request's ids: the client-request-id sent echoed in the header and, for
// an error, in the envelope, whose request-id is the header's.
export function checkIDs(what: string, res: Response, sent: string, err?: ODataError): void {
  check(res.headers.get("client-request-id") === sent, `${what}: client-request-id echoed`, res.headers.get("client-request-id"));
  const requestIDHeader = res.headers.get("request-id");
  check(/^[0-9a-f-]{36}$/.test(requestIDHeader ?? ""), `${what}: request-id is a UUID`, requestIDHeader);
  if (err) {
    const inner = err.error.innerError;
    check(inner["client-request-id"] === sent, `${what}: innerError.client-request-id`, inner);
    check(inner["request-id"] === requestIDHeader, `${what}: innerError.request-id is the header's`, inner);
    check(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/.test(inner.date), `${what}: innerError.date`, inner.date);
  }
}

// checkGetDefaults GETs a never-written tenant's settings.
export async function checkGetDefaults(defaultState: State): Promise<void> {
  const id = requestID();
  const { data, error, response } = await client.GET(path, { params: { header: { "client-request-id": id } } });
  check(response.status === 200 && error === undefined && data !== undefined, "GET: 200", { status: response.status, error });
  assertType<Interchangeable<typeof data, Selected | undefined>>();
  if (!data) return;
  // The values, as the generated types name them.
  const state: State = data.remoteAssistanceState!;
  const blockChat: boolean = data.blockChat!;
  const allow: boolean = data.allowSessionsToUnenrolledDevices!;
  const odataType: "#microsoft.graph.remoteAssistanceSettings" = data["@odata.type"];
  check(state === defaultState, `GET: remoteAssistanceState is ${defaultState}`, state);
  check(blockChat === false && allow === false, "GET: blockChat and allowSessionsToUnenrolledDevices false", data);
  check(odataType === "#microsoft.graph.remoteAssistanceSettings" && data.id === settingsID, "GET: @odata.type and the tenant's id", data);
  check(data["@odata.context"].endsWith("/beta/$metadata#deviceManagement/remoteAssistanceSettings/$entity"), "GET: @odata.context", data["@odata.context"]);
  check(sameKeys(data, ["@odata.context", "@odata.type", "id", "allowSessionsToUnenrolledDevices", "remoteAssistanceState", "blockChat"]), "GET: every property", data);
  checkIDs("GET", response, id);
}

// checkInvalidValue PATCHes a value outside the profile's enumeration: the typed 400.
export async function checkInvalidValue(invalid: string, allowed: State[]): Promise<void> {
  const id = requestID();
  const { data, error, response } = await client.PATCH(path, {
    params: { header: { "client-request-id": id } },
    // Sent on purpose: the program's own check that the type refuses it is in the caller.
    body: { remoteAssistanceState: invalid as State },
  });
  check(response.status === 400 && data === undefined && error !== undefined, `PATCH ${JSON.stringify(invalid)}: 400`, { status: response.status, data });
  if (!error) return;
  // The error's type is the envelope every error response declares.
  assertType<Equals<typeof error, ODataError>>();
  const code: string = error.error.code;
  const message: string = error.error.message;
  check(code === "BadRequest", "400: code BadRequest", error);
  check(message.includes("'remoteAssistanceState'") && message.includes(`Allowed values: ${allowed.join(", ")}`), "400: message names the property and the allowed values", message);
  check(error.error.target === "remoteAssistanceState", "400: target", error.error.target);
  checkIDs("400", response, id, error);
}

// checkReadOnly uses a read-only token: GET answers, PATCH is the typed 403.
export async function checkReadOnly(): Promise<void> {
  const readOnly = { Authorization: `Bearer ${env("RA_TOKEN_READ")}` };
  const got = await client.GET(path, { headers: readOnly });
  check(got.response.status === 200 && got.data?.id === settingsID, "read-only token: GET 200", got.response.status);
  const id = requestID();
  const { data, error, response } = await client.PATCH(path, {
    headers: readOnly,
    params: { header: { "client-request-id": id } },
    body: { blockChat: false },
  });
  check(response.status === 403 && data === undefined && error !== undefined, "read-only token: PATCH 403", response.status);
  if (!error) return;
  check(error.error.code === "Forbidden", "403: code Forbidden", error);
  check(error.error.message.includes("DeviceManagementServiceConfig.ReadWrite.All"), "403: message names the permission needed", error.error.message);
  checkIDs("403", response, id, error);
}

// checkSelect GETs with $select (or select) naming one and two properties: one comma-joined
// value on the wire, and exactly those properties (with id and the annotations) in the answer.
export async function checkSelect(): Promise<void> {
  const always = ["@odata.context", "@odata.type", "id"];
  const cases: { name: "$select" | "select"; value: string; props: string[] }[] = [
    { name: "$select", value: "blockChat", props: ["blockChat"] },
    { name: "$select", value: "blockChat,remoteAssistanceState", props: ["blockChat", "remoteAssistanceState"] },
    { name: "select", value: "allowSessionsToUnenrolledDevices", props: ["allowSessionsToUnenrolledDevices"] },
    { name: "select", value: "remoteAssistanceState,allowSessionsToUnenrolledDevices", props: ["remoteAssistanceState", "allowSessionsToUnenrolledDevices"] },
  ];
  for (const c of cases) {
    const what = `GET ?${c.name}=${c.value}`;
    const query = c.name === "$select" ? { $select: c.value } : { select: c.value };
    const id = requestID();
    const { data, response } = await client.GET(path, { params: { query, header: { "client-request-id": id } } });
    check(response.status === 200 && data !== undefined, `${what}: 200`, response.status);
    if (!data) continue;
    const sent = new URL(response.url).searchParams;
    check([...sent.keys()].length === 1 && sent.getAll(c.name).length === 1 && sent.get(c.name) === c.value, `${what}: one value on the wire`, response.url);
    check(sameKeys(data, [...always, ...c.props]), `${what}: exactly the selected properties`, data);
    const context = data["@odata.context"];
    check(context.endsWith(`/$metadata#deviceManagement/remoteAssistanceSettings(${c.props.join(",")})/$entity`), `${what}: @odata.context names them`, context);
    checkIDs(what, response, id);
  }
}
