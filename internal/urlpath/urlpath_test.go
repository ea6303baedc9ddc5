package urlpath

import (
	"net/url"
	"testing"
)

func TestNormalize(t *testing.T) {
	cases := []struct {
		target, path, raw string
	}{
		{"/beta/deviceManagement/remoteAssistanceSettings", "/beta/deviceManagement/remoteAssistanceSettings", ""},
		{"/beta/deviceManagement/remoteAssistance%53ettings", "/beta/deviceManagement/remoteAssistanceSettings", ""},
		{"/beta/deviceManagement/remoteAssistance%73ettings", "/beta/deviceManagement/remoteAssistancesettings", ""},
		{"/%62%65%74%61/%2D%2e%5F%7e", "/beta/-._~", ""},
		// An encoded '/' stays one: the segment is not split.
		{"/beta/deviceManagement%2FremoteAssistanceSettings", "/beta/deviceManagement/remoteAssistanceSettings", "/beta/deviceManagement%2FremoteAssistanceSettings"},
		{"/beta/device%4Danagement%2fremote%41ssistanceSettings", "/beta/deviceManagement/remoteAssistanceSettings", "/beta/deviceManagement%2fremoteAssistanceSettings"},
		// Other reserved characters keep their escapes; escapes Go writes by default go away.
		{"/a%3Ab%40c", "/a:b@c", "/a%3Ab%40c"},
		{"/a%20b%41", "/a bA", ""},
		{"/a%2541", "/a%41", ""},
	}
	for _, tc := range cases {
		u, err := url.ParseRequestURI(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		Normalize(u)
		if u.Path != tc.path || u.RawPath != tc.raw {
			t.Errorf("%s: Path %q RawPath %q, want %q %q", tc.target, u.Path, u.RawPath, tc.path, tc.raw)
		}
	}
}
