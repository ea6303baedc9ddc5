package main

import (
	"regexp"
	"runtime/debug"
	"testing"
)

func TestReadVersion(t *testing.T) {
	installed := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/remoteassist/remoteassist", Version: "v1.2.3"}}
	vcs := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}, {Key: "vcs.modified", Value: "true"},
	}}
	tests := []struct {
		name               string
		stampedV, stampedR string
		info               *debug.BuildInfo
		want               buildVersion
	}{
		{"go install @version", "", "", installed, buildVersion{Version: "v1.2.3", Go: "go1.26.8"}},
		{"buildvcs", "", "", vcs, buildVersion{Version: "(devel)", Revision: "0123456789abcdef0123456789abcdef01234567", Modified: true, Go: "go1.26.8"}},
		{"stamped wins", "v0.0.0-20261128120000-0123456789ab", "fedcba", vcs, buildVersion{Version: "v0.0.0-20261128120000-0123456789ab", Revision: "fedcba", Modified: true, Go: "go1.26.8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readVersion(tt.stampedV, tt.stampedR, tt.info, true); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestVersionCommand checks the output of the test binary's version, whose build info has no
// VCS settings and no module version: go test builds without stamps.
func TestVersionCommand(t *testing.T) {
	code, stdout, stderr := runCLI(t.Context(), "version")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	want := regexp.MustCompile(`^remoteassist \S+\ncommit \S+( \(modified\))?\ngo1\.\S+ [a-z0-9]+/[a-z0-9]+\n$`)
	if !want.MatchString(stdout) {
		t.Errorf("stdout %q does not match %s", stdout, want)
	}
	if code, _, stderr := runCLI(t.Context(), "version", "extra"); code != 2 || stderr == "" {
		t.Errorf("version extra: exit %d, stderr %q; want a usage error", code, stderr)
	}
}
