// The request builder of /deviceManagement/remoteAssistanceSettings for
// @microsoft/msgraph-beta-sdk, as Kiota generates it into the per-area package
// @microsoft/msgraph-beta-sdk-devicemanagement, which is not published. Only the navigation and
// the requests metadata for this one path are written here; the model
// (RemoteAssistanceSettings, its serializer and deserializer), ODataError and every middleware
// are the SDK's own, imported unmodified.
//
// Importing this module extends the client, as importing the per-area package does:
//
//   import "./deviceManagement.js";
//   const client = createGraphBetaServiceClient(adapter);
//   await client.deviceManagement.remoteAssistanceSettings.get();
import { extendGraphBetaServiceClient } from "@microsoft/msgraph-beta-sdk";
import {
  createRemoteAssistanceSettingsFromDiscriminatorValue,
  serializeRemoteAssistanceSettings,
} from "@microsoft/msgraph-beta-sdk/models/index.js";
import { createODataErrorFromDiscriminatorValue } from "@microsoft/msgraph-beta-sdk/models/oDataErrors/index.js";

/** Uri template for the request builder. */
export const RemoteAssistanceSettingsRequestBuilderUriTemplate =
  "{+baseurl}/deviceManagement/remoteAssistanceSettings{?%24expand,%24select}";

/** Mapper for query parameters from symbol name to serialization name represented as a constant. */
const RemoteAssistanceSettingsRequestBuilderGetQueryParametersMapper = {
  expand: "%24expand",
  select: "%24select",
};

/** Metadata for all the requests in the request builder. */
export const RemoteAssistanceSettingsRequestBuilderRequestsMetadata = {
  delete: {
    uriTemplate: RemoteAssistanceSettingsRequestBuilderUriTemplate,
    responseBodyContentType: "application/json",
    errorMappings: {
      XXX: createODataErrorFromDiscriminatorValue,
    },
    adapterMethodName: "sendNoResponseContent",
  },
  get: {
    uriTemplate: RemoteAssistanceSettingsRequestBuilderUriTemplate,
    responseBodyContentType: "application/json",
    errorMappings: {
      XXX: createODataErrorFromDiscriminatorValue,
    },
    adapterMethodName: "send",
    responseBodyFactory: createRemoteAssistanceSettingsFromDiscriminatorValue,
    queryParametersMapper: RemoteAssistanceSettingsRequestBuilderGetQueryParametersMapper,
  },
  patch: {
    uriTemplate: RemoteAssistanceSettingsRequestBuilderUriTemplate,
    responseBodyContentType: "application/json",
    errorMappings: {
      XXX: createODataErrorFromDiscriminatorValue,
    },
    adapterMethodName: "send",
    responseBodyFactory: createRemoteAssistanceSettingsFromDiscriminatorValue,
    requestBodyContentType: "application/json",
    requestBodySerializer: serializeRemoteAssistanceSettings,
    requestInformationContentSetMethod: "setContentFromParsable",
  },
};

/** Uri template for the deviceManagement request builder. */
export const DeviceManagementRequestBuilderUriTemplate = "{+baseurl}/deviceManagement{?%24expand,%24select}";

/** Metadata for the navigation properties of deviceManagement: only remoteAssistanceSettings here. */
export const DeviceManagementRequestBuilderNavigationMetadata = {
  remoteAssistanceSettings: {
    requestsMetadata: RemoteAssistanceSettingsRequestBuilderRequestsMetadata,
  },
};

/** Metadata for the navigation properties the per-area package adds to the service client. */
export const DeviceManagementServiceClientNavigationMetadata = {
  deviceManagement: {
    navigationMetadata: DeviceManagementRequestBuilderNavigationMetadata,
  },
};

extendGraphBetaServiceClient(DeviceManagementServiceClientNavigationMetadata);
