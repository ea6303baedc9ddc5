// Package remoteassist is the domain of the remoteassist service: the tenant's remote
// assistance settings, the store that keeps them and the errors every layer shares.
//
// The HTTP contract lives in package openapi; the code generated from it lives in package gen.
package remoteassist

//go:generate go tool oapi-codegen -config gen/config.yaml openapi/openapi.yaml
