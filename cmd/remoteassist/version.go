package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Stamped by scripts/build-static.sh with -ldflags -X (make build, make install, make image,
// the Dockerfile); empty in a plain go build or go install, where the build info says.
var (
	version  string
	revision string
)

// buildVersion is what `remoteassist version` reports.
type buildVersion struct {
	Version  string // module version: v1.2.3, a pseudo-version, or (devel)
	Revision string // VCS commit, "" if unknown
	Modified bool   // the commit had uncommitted changes
	Go       string
}

// readVersion combines the stamped values with the build info: under `go install
// module/cmd/remoteassist@v1.2.3` the module version is in the build info, and a build with
// -buildvcs has the commit there.
func readVersion(stampedVersion, stampedRevision string, info *debug.BuildInfo, ok bool) buildVersion {
	v := buildVersion{Version: "(devel)", Go: runtime.Version()}
	if ok {
		if info.Main.Version != "" {
			v.Version = info.Main.Version
		}
		v.Go = info.GoVersion
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if stampedVersion != "" {
		v.Version = stampedVersion
	}
	if stampedRevision != "" {
		v.Revision = stampedRevision
	}
	return v
}

func runVersion(_ context.Context, args []string, stdout, _ io.Writer) error {
	fs := newFlagSet("version", "version", "  remoteassist version\n", stdout)
	if err := parse(fs, args); err != nil {
		return err
	}
	info, ok := debug.ReadBuildInfo()
	v := readVersion(version, revision, info, ok)
	commit := v.Revision
	if commit == "" {
		commit = "unknown"
	}
	if v.Modified {
		commit += " (modified)"
	}
	_, err := fmt.Fprintf(stdout, "remoteassist %s\ncommit %s\n%s %s/%s\n", v.Version, commit, v.Go, runtime.GOOS, runtime.GOARCH)
	return err
}
