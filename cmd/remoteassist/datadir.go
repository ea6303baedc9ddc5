package main

import (
	"os"
	"path/filepath"
)

// defaultDataDir is $REMOTEASSIST_DATA, else remoteassist under the user's data home
// ($XDG_DATA_HOME, else ~/.local/share), else ./remoteassist-data.
func defaultDataDir() string {
	if v := os.Getenv("REMOTEASSIST_DATA"); v != "" {
		return v
	}
	if v := os.Getenv("XDG_DATA_HOME"); v != "" {
		return filepath.Join(v, "remoteassist")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "remoteassist")
	}
	return "remoteassist-data"
}
