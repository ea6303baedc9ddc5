// Package sdkcompat holds no code: its tests prove that Microsoft's own Graph SDK transport and
// serialization (Kiota: kiota-http-go, kiota-abstractions-go, kiota-serialization-json-go and
// msgraph-sdk-go-core) work against the real server over loopback, the way a Kiota-generated
// Graph SDK such as msgraph-beta-sdk-go calls it.
//
// The beta SDK module itself is not available here, so model_test.go mirrors, by hand, what Kiota
// generates for remoteAssistanceSettings: the backing-store model, its enum, the request builder
// and the ODataError family. Everything below the model (request adapter, middleware, parse
// nodes, serialization writers, backing store proxies) is Microsoft's code at pinned versions.
package sdkcompat
