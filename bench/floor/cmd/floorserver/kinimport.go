//go:build kinimport

package main

// Built with -tags kinimport, the floor server also links kin-openapi's openapi3 package, and
// does nothing with it: bench/startup.sh times that build to show what linking kin-openapi alone
// costs a process's start-up (its JSON Schema dependency compiles every meta-schema in init).
import _ "github.com/getkin/kin-openapi/openapi3"
