package testutil

import "testing"

func TestPackageName(t *testing.T) {
	for path, want := range map[string]string{
		"testing":                      "testing",
		"net/http":                     "http",
		"github.com/golang-jwt/jwt/v5": "jwt",
		"github.com/testcontainers/testcontainers-go":           "testcontainers",
		"github.com/remoteassist/remoteassist/gen/admin/models": "models",
		"go.yaml.in/yaml/v3":                                    "yaml",
	} {
		if got := packageName(path); got != want {
			t.Errorf("packageName(%q) = %q, want %q", path, got, want)
		}
	}
}
