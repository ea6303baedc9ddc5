// Package remoteassist is the domain of the remoteassist service: the tenant's remote
// assistance settings, the store that keeps them and the errors every layer shares.
//
// The HTTP contract lives in package openapi (openapi/openapi.yaml). Everything derived from it
// is made by go generate, in the order below, and checked for drift by CI:
//
//   - gen/models: the schemas and parameter structs (no echo, no HTTP client), which this
//     package, the stores and the Go client use;
//   - gen/echoapi: the echo server interface the server implements;
//   - gen/apiclient: the HTTP client package client is built on;
//   - openapi/documented.{yaml,json} and openapi/graph.{yaml,json}: the documents each fidelity
//     profile serves, validates against and renders (internal/cmd/specgen; graph applies
//     openapi/graph.overlay.yaml);
//   - the admin API's (the test control plane's) contract, openapi/admin.yaml, which borrows the
//     API's schemas: openapi/admin.bundle.{yaml,json}, standing alone, served and validated
//     against on the admin listener; gen/admin/{models,echoapi,apiclient} like the API's.
package remoteassist

//go:generate go tool oapi-codegen -config gen/models/config.yaml openapi/openapi.yaml
//go:generate go tool oapi-codegen -config gen/echoapi/config.yaml openapi/openapi.yaml
//go:generate go tool oapi-codegen -config gen/apiclient/config.yaml openapi/openapi.yaml
//go:generate go run ./internal/cmd/specgen -o openapi openapi/openapi.yaml graph=openapi/graph.overlay.yaml
//go:generate go run ./internal/cmd/specgen -o openapi -as admin.bundle -bundle openapi/openapi.yaml openapi/admin.yaml
//go:generate go tool oapi-codegen -config gen/admin/models/config.yaml openapi/admin.yaml
//go:generate go tool oapi-codegen -config gen/admin/echoapi/config.yaml openapi/admin.yaml
//go:generate go tool oapi-codegen -config gen/admin/apiclient/config.yaml openapi/admin.yaml
