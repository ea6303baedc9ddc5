package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/gen/admin/apiclient"
	"github.com/remoteassist/remoteassist/gen/admin/models"
)

// The state subcommands: get, seed, reset, snapshot export and import.

const connSynopsis = "[--admin-url URL] [--admin-token TOKEN | --data DIR] [--timeout 30s]"

func runAdminGet(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("admin get", "admin get TENANT [--output table|json] "+connSynopsis,
		`  remoteassist admin get contoso
  remoteassist admin get contoso --output json
  remoteassist admin get contoso --admin-url http://127.0.0.1:9091 --data /var/lib/remoteassist

A tenant that never wrote reads the defaults.
`, stdout)
	var conn adminConn
	conn.register(fs)
	output := outputFlag(fs)
	pos, err := parseAdmin(fs, args, 1, 1, "TENANT")
	if err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	if err := checkParam("getTenantSettings", "tenant", "TENANT", pos[0]); err != nil {
		return err
	}
	c, err := conn.client()
	if err != nil {
		return err
	}
	settings, err := fetch(ctx, c, http.StatusOK,
		func(ctx context.Context, api *apiclient.ClientWithResponses) (*apiclient.GetTenantSettingsResponse, error) {
			return api.GetTenantSettingsWithResponse(ctx, pos[0])
		},
		func(res *apiclient.GetTenantSettingsResponse) *models.TenantSettings { return res.JSON200 })
	if err != nil {
		return err
	}
	return writeSettings(stdout, *output, remoteassist.SettingsFromEntity(settings))
}

func runAdminSeed(ctx context.Context, args []string, stdout io.Writer) error {
	props, err := settableProperties()
	if err != nil {
		return err
	}
	fs := newFlagSet("admin seed", "admin seed TENANT "+synopsis(props)+" [--file FILE|-] [--output table|json] "+connSynopsis,
		`  remoteassist admin seed contoso --state enabled --block-chat=true
  remoteassist admin seed contoso --file contoso.json
  echo '{"allowSessionsToUnenrolledDevices":true}' | remoteassist admin seed fabrikam --file -

The tenant's settings become the ones given; the properties left out take their defaults
(unlike "remoteassist set", which leaves them as they are). No request is throttled, journaled
or faulted. Boolean flags take their value after "=": --block-chat=false.
`, stdout)
	var conn adminConn
	conn.register(fs)
	output := outputFlag(fs)
	patchFromFlags := propertyFlags(fs, props)
	file := fs.String("file", "", `read the settings, a JSON object as a PATCH body holds them, from this file ("-": stdin) instead of the flags`)
	pos, err := parseAdmin(fs, args, 1, 1, "TENANT")
	if err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	if err := checkParam("seedTenantSettings", "tenant", "TENANT", pos[0]); err != nil {
		return err
	}
	anyProperty := false
	for _, p := range props {
		anyProperty = anyProperty || isSet(fs, p.flag)
	}
	var body []byte
	switch {
	case *file != "" && anyProperty:
		return usageError{fmt.Errorf("--file and %s: give one or the other", flagNames(props))}
	case *file != "":
		if body, err = readInput(*file, "--file"); err != nil {
			return err
		}
	case !anyProperty:
		return usageError{fmt.Errorf("nothing to seed: give at least one of %s, or --file FILE", flagNames(props))}
	}
	c, err := conn.client()
	if err != nil {
		return err
	}
	seed := func(ctx context.Context, api *apiclient.ClientWithResponses) (*apiclient.SeedTenantSettingsResponse, error) {
		return api.SeedTenantSettingsWithBodyWithResponse(ctx, pos[0], "application/json", bytes.NewReader(body))
	}
	if body == nil {
		// The flags, checked as "remoteassist set" checks them.
		patch, err := patchFromFlags()
		if err != nil {
			return err
		}
		seed = func(ctx context.Context, api *apiclient.ClientWithResponses) (*apiclient.SeedTenantSettingsResponse, error) {
			return api.SeedTenantSettingsWithResponse(ctx, pos[0], patch.Update())
		}
	}
	settings, err := fetch(ctx, c, http.StatusOK, seed,
		func(res *apiclient.SeedTenantSettingsResponse) *models.TenantSettings { return res.JSON200 })
	if err != nil {
		return err
	}
	return writeSettings(stdout, *output, remoteassist.SettingsFromEntity(settings))
}

func runAdminReset(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("admin reset", "admin reset TENANT | --all "+connSynopsis,
		`  remoteassist admin reset contoso
  remoteassist admin reset --all

The tenant (with --all, every tenant) reads the defaults again, as if it had never written.
With several replicas on one PostgreSQL, every replica sees it at once. Prints nothing.
`, stdout)
	var conn adminConn
	conn.register(fs)
	all := fs.Bool("all", false, "reset every tenant")
	pos, err := parseAdmin(fs, args, 0, 1, "TENANT")
	if err != nil {
		return err
	}
	switch {
	case *all && len(pos) == 1:
		return usageError{errors.New("a TENANT and --all: give one or the other")}
	case !*all && len(pos) == 0:
		return usageError{errors.New("give a TENANT to reset, or --all (see remoteassist admin reset --help)")}
	case !*all:
		if err := checkParam("resetTenantSettings", "tenant", "TENANT", pos[0]); err != nil {
			return err
		}
	}
	c, err := conn.client()
	if err != nil {
		return err
	}
	return c.do(ctx, http.StatusNoContent, func(ctx context.Context, api *apiclient.ClientWithResponses) (adminResponse, error) {
		if *all {
			return api.ResetAllTenantsWithResponse(ctx)
		}
		return api.ResetTenantSettingsWithResponse(ctx, pos[0])
	})
}

func runAdminSnapshotExport(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("admin snapshot export", "admin snapshot export [FILE] "+connSynopsis,
		`  remoteassist admin snapshot export before.json
  remoteassist admin snapshot export | jq '.tenants | keys'

Writes every tenant that has settings stored, by tenant id, as JSON: to FILE (replaced whole,
never left half written), or to stdout without one or with "-". "snapshot import" puts it back.
`, stdout)
	var conn adminConn
	conn.register(fs)
	pos, err := parseAdmin(fs, args, 0, 1, "FILE")
	if err != nil {
		return err
	}
	c, err := conn.client()
	if err != nil {
		return err
	}
	snapshot, err := fetch(ctx, c, http.StatusOK,
		func(ctx context.Context, api *apiclient.ClientWithResponses) (*apiclient.ExportSnapshotResponse, error) {
			return api.ExportSnapshotWithResponse(ctx)
		},
		func(res *apiclient.ExportSnapshotResponse) *models.Snapshot { return res.JSON200 })
	if err != nil {
		return err
	}
	if len(pos) == 0 || pos[0] == "-" {
		return writeJSON(stdout, snapshot)
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, snapshot); err != nil {
		return err
	}
	return writeFileAtomic(pos[0], buf.Bytes())
}

// writeFileAtomic replaces path with data: a temporary file beside it, synced, then renamed.
// The file gets CreateTemp's mode 0600, whatever the old one had: snapshots hold tenant data.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func runAdminSnapshotImport(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("admin snapshot import", "admin snapshot import FILE|- "+connSynopsis,
		`  remoteassist admin snapshot import before.json
  echo '{"tenants":{"contoso":{"blockChat":true}}}' | remoteassist admin snapshot import -

Afterwards the snapshot's tenants hold its settings (the defaults for what it leaves out) and
every other tenant reads the defaults. A snapshot with a value out of the contract is refused
whole, naming the tenant and the property, and nothing changes. Prints nothing.
`, stdout)
	var conn adminConn
	conn.register(fs)
	pos, err := parseAdmin(fs, args, 1, 1, "FILE")
	if err != nil {
		return err
	}
	body, err := readInput(pos[0], "FILE")
	if err != nil {
		return err
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil || obj["tenants"] == nil {
		return usageError{fmt.Errorf(`FILE %s: not a snapshot: want {"tenants": {TENANT: SETTINGS, ...}}, as snapshot export writes`, pos[0])}
	}
	c, err := conn.client()
	if err != nil {
		return err
	}
	return c.do(ctx, http.StatusNoContent, func(ctx context.Context, api *apiclient.ClientWithResponses) (adminResponse, error) {
		return api.ImportSnapshotWithBodyWithResponse(ctx, "application/json", bytes.NewReader(body))
	})
}
