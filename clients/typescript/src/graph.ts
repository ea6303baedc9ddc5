// The graph profile (serve --profile graph), through the client generated from its served
// document: two states, PATCH answers 204 without a body.

import type { operations } from "./schema.js";
import { assertType, check, type Equals, main } from "./check.js";
import {
  checkGetDefaults,
  checkIDs,
  checkInvalidValue,
  checkReadOnly,
  checkSelect,
  client,
  path,
  requestID,
  type State,
} from "./common.js";

type PatchResponses = operations["deviceManagement.UpdateRemoteAssistanceSettings"]["responses"];

// The profile's enumeration, exactly: no notConfigured.
assertType<Equals<State, "disabled" | "enabled">>();
// @ts-expect-error notConfigured is not a remoteAssistanceState of this profile.
const notAState: State = "notConfigured";
void notAState;

// PATCH declares a 204 without content, and no 200.
assertType<Equals<PatchResponses[204]["content"], never | undefined>>();
assertType<Equals<200 extends keyof PatchResponses ? true : false, false>>();

async function patchAnswers204(): Promise<void> {
  const id = requestID();
  const { data, error, response } = await client.PATCH(path, {
    params: { header: { "client-request-id": id } },
    body: { remoteAssistanceState: "enabled", blockChat: true },
  });
  check(response.status === 204 && error === undefined && data === undefined, "PATCH: 204 without a body", { status: response.status, data, error });
  checkIDs("PATCH", response, id);

  const got = await client.GET(path);
  const state: "disabled" | "enabled" = got.data!.remoteAssistanceState!;
  check(state === "enabled" && got.data!.blockChat === true && got.data!.allowSessionsToUnenrolledDevices === false, "GET after PATCH: the update, merged", got.data);
}

main(async () => {
  await checkGetDefaults("disabled");
  await patchAnswers204();
  await checkInvalidValue("notConfigured", ["disabled", "enabled"]);
  await checkReadOnly();
  await checkSelect();
});
