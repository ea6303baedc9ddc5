// The documented profile (serve --profile documented), through the client generated from its
// served document: three states, PATCH answers 200 with the whole entity.

import type { components } from "./schema.js";
import { assertType, check, type Equals, type Interchangeable, type IsOptional, main, sameKeys } from "./check.js";
import {
  checkGetDefaults,
  checkIDs,
  checkInvalidValue,
  checkReadOnly,
  checkSelect,
  client,
  path,
  requestID,
  settingsID,
  type State,
} from "./common.js";

type Entity = components["schemas"]["microsoft.graph.remoteAssistanceSettings"];

// The profile's enumeration, exactly.
assertType<Equals<State, "notConfigured" | "disabled" | "enabled">>();
// @ts-expect-error "on" is not a remoteAssistanceState.
const notAState: State = "on";
void notAState;

// PATCH's 200 is the whole entity: every property required, none of them never.
assertType<Equals<IsOptional<Entity, "blockChat">, false>>();
assertType<Equals<IsOptional<Entity, "allowSessionsToUnenrolledDevices">, false>>();
assertType<Equals<IsOptional<Entity, "remoteAssistanceState">, false>>();
assertType<Equals<IsOptional<Entity, "id">, false>>();
assertType<Equals<Entity["blockChat"], boolean>>();
assertType<Equals<Entity["allowSessionsToUnenrolledDevices"], boolean>>();
assertType<Equals<Entity["remoteAssistanceState"], State>>();
assertType<Equals<Entity["id"], string>>();

async function patchAnswersTheEntity(): Promise<void> {
  const id = requestID();
  const { data, error, response } = await client.PATCH(path, {
    params: { header: { "client-request-id": id } },
    body: { remoteAssistanceState: "enabled", blockChat: true },
  });
  check(response.status === 200 && error === undefined && data !== undefined, "PATCH: 200", { status: response.status, error });
  assertType<Interchangeable<typeof data, Entity | undefined>>();
  if (!data) return;
  // No "!": the settings of the echo are not optional in the generated type.
  const blockChat: boolean = data.blockChat;
  const allow: boolean = data.allowSessionsToUnenrolledDevices;
  const state: "notConfigured" | "disabled" | "enabled" = data.remoteAssistanceState;
  check(state === "enabled" && blockChat === true && allow === false, "PATCH: the echo holds the update, merged", data);
  check(data.id === settingsID && data["@odata.type"] === "#microsoft.graph.remoteAssistanceSettings", "PATCH: the tenant's entity", data);
  check(sameKeys(data, ["@odata.context", "@odata.type", "id", "allowSessionsToUnenrolledDevices", "remoteAssistanceState", "blockChat"]), "PATCH: every property", data);
  checkIDs("PATCH", response, id);

  const got = await client.GET(path);
  check(JSON.stringify(got.data) === JSON.stringify(data), "GET after PATCH: what the echo said", { got: got.data, echo: data });
}

main(async () => {
  await checkGetDefaults("notConfigured");
  await patchAnswersTheEntity();
  await checkInvalidValue("on", ["notConfigured", "disabled", "enabled"]);
  await checkReadOnly();
  await checkSelect();
});
