package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/remoteassist/remoteassist/jwtauth"
)

// TestServeRefusesUnusableJWKSFile: a --jwks-file (or REMOTEASSIST_JWKS_FILE) that is missing,
// unreadable or no usable key set is refused as the TLS files are: exit 2, one line naming the
// flag or variable, the file and the reason, before the data directory is made and before
// anything listens. A usable one goes on to listen.
func TestServeRefusesUnusableJWKSFile(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	missing := filepath.Join(dir, "nope.json")
	tests := []struct {
		name string
		path string
		env  bool   // given in REMOTEASSIST_JWKS_FILE rather than the flag
		want string // the reason, after "--jwks-file PATH: "
	}{
		{"missing", missing, false, "no such file or directory"},
		{"missing, from the environment", missing, true, "no such file or directory"},
		{"a directory", dir, false, "is a directory"},
		{"empty", file("empty.json", " \n"), false, `the file is empty (a JWKS is a JSON object with a "keys" array)`},
		{"not JSON", file("pem.json", "-----BEGIN PUBLIC KEY-----\n"), false, `not JSON (a JWKS is a JSON object with a "keys" array): invalid character`},
		{"an array", file("array.json", "[]"), false, `not a JWKS, a JSON object with a "keys" array`},
		{"no keys", file("nokeys.json", `{"keys":[]}`), false, `the key set has no keys`},
		{"an object without keys", file("object.json", `{}`), false, `the key set has no keys`},
		{"no usable key", file("hmac.json", `{"keys":[{"kty":"oct","kid":"a","k":"c2VjcmV0"}]}`), false,
			`the key set has no usable signature key: key 0: kid "a": unsupported kty "oct"`},
		{"no usable key among several, on one line", file("several.json", `{"keys":[{"kty":"oct","kid":"a"},7,{"kty":"RSA"},{"kty":"EC","kid":5}]}`), false,
			`the key set has no usable signature key: key 0: kid "a": unsupported kty "oct"; key 1: not a JSON object; key 2: no kid; key 3: member "kid" is a JSON number, want a string`},
		{"too large", file("large.json", `{"keys":[]}`+strings.Repeat(" ", jwtauth.MaxJWKSSize)), false, "the file is larger than 1048576 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			args := []string{"--data", dataDir, "--issuer", "https://issuer.example/"}
			name := "--jwks-file"
			if tc.env {
				setServeEnv(t, map[string]string{"REMOTEASSIST_JWKS_FILE": tc.path})
				name = "REMOTEASSIST_JWKS_FILE"
			} else {
				clearServeEnv(t)
				args = append(args, "--jwks-file", tc.path)
			}
			asked := fakeListen(t)
			code, stdout, stderr := runCLI(t.Context(), append([]string{"serve"}, args...)...)
			assertRefused(t, "serve", code, stdout, stderr, name+" "+tc.path+": "+tc.want)
			if strings.Contains(stderr, "jwtauth") {
				t.Errorf("stderr %q names the package", stderr)
			}
			assertNotCreated(t, dataDir)
			if len(*asked) != 0 {
				t.Errorf("serve went on to listen on %q", *asked)
			}
		})
	}

	t.Run("usable", func(t *testing.T) {
		clearServeEnv(t)
		key, err := jwtauth.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		path := file("keys.json", string(key.JWKS()))
		asked := fakeListen(t)
		code, _, stderr := runCLI(t.Context(), "serve", "--store", "memory", "--data", t.TempDir(),
			"--addr", "127.0.0.1:0", "--jwks-file", path, "--issuer", "https://issuer.example/")
		if code != 1 || !strings.HasSuffix(stderr, "remoteassist serve: "+errNotListening.Error()+"\n") || len(*asked) != 1 {
			t.Errorf("serve with a usable --jwks-file: exit %d, listened on %q, stderr:\n%s", code, *asked, stderr)
		}
	})
}
