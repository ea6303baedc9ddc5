package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The serve record: where serve's API listener actually listens, for healthcheck.
//
// healthcheck runs beside serve (the image's HEALTHCHECK, an exec probe, a shell on the same
// machine) and must ask the address serve listens on, which the environment both share does not
// always say: docker run IMAGE serve --addr 0.0.0.0:9090 listens on 9090 while the image's
// REMOTEASSIST_ADDR still says 8080; a port 0 is known only once the kernel picked it; --tls
// given as a flag makes it https. So serve, once it listens, writes its readiness URL in its data
// directory, the one place it can write in the image (FROM scratch, possibly a read-only root
// file system; /data a volume owned by the image's non-root user), with the usual atomic write:
//
//	DATA/serve-NS-PID-RAND.json   {"url":"https://127.0.0.1:9090/readyz","pid":1,"pidNamespace":4026532291,"started":7712345,"boot":"9e3e7db8-…","addrEnv":"0.0.0.0:8080"}
//
// One file per serve process, not one per data directory: replicas on PostgreSQL may share a
// data directory (a volume mounted in several containers), and each container's healthcheck must
// find its own serve, not the one started last. A record names its process by the kernel it runs
// on (its boot_id), pid namespace (a container has its own), pid and start time (pids are
// reused). The boot_id because a volume may be shared by containers on several machines (a
// network file system), and pid namespaces are numbered by each kernel, lowest free number
// first, so that containers on two machines commonly have the same one, each with its serve as
// pid 1: without it, a serve took another machine's live record for one of a process of its own
// that is gone, and removed it. healthcheck takes only the record of a live process in its own
// pid namespace of this kernel, so in a container its own container's serve, and only one that
// saw the REMOTEASSIST_ADDR healthcheck sees: a different one is a user asking for another serve,
// and wins. A serve removes its record when it exits; one a killed serve left is ignored, and
// removed by the next serve started in that pid namespace (another container's stays, as does
// one of another boot, which this kernel cannot tell from another machine's: a few hundred bytes
// for each container killed rather than stopped).
//
// PID 1's command line (/proc/1/cmdline) was the other way: it needs no file, but it tells no
// port 0's port, holds serve's flags only in a container whose PID 1 is serve (not with docker
// run --init, not outside a container), and would have healthcheck parse serve's flags again.
type serveRecord struct {
	URL          string `json:"url"`          // the readiness URL, over loopback for an unspecified host
	PID          int    `json:"pid"`          // as serve's pid namespace numbers it
	PIDNamespace uint64 `json:"pidNamespace"` // the inode of /proc/self/ns/pid
	Started      uint64 `json:"started"`      // clock ticks from boot to the process's start, /proc/PID/stat
	Boot         string `json:"boot"`         // the kernel's boot_id, whose pid namespace, pid and start time these are
	AddrEnv      string `json:"addrEnv"`      // REMOTEASSIST_ADDR as serve saw it, "" when unset
}

const serveRecordPrefix = "serve-"

// writeServeRecord records in dataDir that this process serves its readiness endpoint at url, and
// returns the function that removes the record; serve calls it when it exits. It first removes
// the records of processes of this pid namespace, on this kernel, that are gone.
func writeServeRecord(dataDir, url string) (remove func(), err error) {
	boot, ns, err := thisPIDNamespace()
	if err != nil {
		return nil, err
	}
	pid := os.Getpid()
	started, err := processStart(pid)
	if err != nil {
		return nil, err
	}
	for _, r := range readServeRecords(dataDir, ns) {
		if r.Boot == boot && !r.alive(boot, ns) {
			os.Remove(r.path)
		}
	}
	data, err := json.Marshal(serveRecord{URL: url, PID: pid, PIDNamespace: ns, Started: started, Boot: boot, AddrEnv: os.Getenv("REMOTEASSIST_ADDR")})
	if err != nil {
		return nil, err
	}
	// The random part keeps apart two serves of one process (tests run several in process).
	salt := make([]byte, 4)
	rand.Read(salt)
	path := filepath.Join(dataDir, fmt.Sprintf("%s%d-%d-%s.json", serveRecordPrefix, ns, pid, hex.EncodeToString(salt)))
	if err := writeFileAtomic(path, append(data, '\n')); err != nil {
		return nil, err
	}
	return func() { os.Remove(path) }, nil
}

// findServeRecord returns the record in dataDir of the live serve of this pid namespace that saw
// REMOTEASSIST_ADDR as addrEnv, nil when there is none (or this machine has no /proc to tell),
// and an error when there are several: healthcheck cannot tell which is meant.
func findServeRecord(dataDir, addrEnv string) (*serveRecord, error) {
	boot, ns, err := thisPIDNamespace()
	if err != nil {
		return nil, nil
	}
	var live []*serveRecord
	for _, r := range readServeRecords(dataDir, ns) {
		if r.alive(boot, ns) && r.AddrEnv == addrEnv {
			live = append(live, &r.serveRecord)
		}
	}
	switch len(live) {
	case 0:
		return nil, nil
	case 1:
		return live[0], nil
	}
	var urls []string
	for _, r := range live {
		urls = append(urls, fmt.Sprintf("%s (pid %d)", r.URL, r.PID))
	}
	slices.Sort(urls)
	return nil, fmt.Errorf("several serves use the data directory %s: %s; pass --url", dataDir, strings.Join(urls, ", "))
}

// recordFile is a serve record and the file it was read from.
type recordFile struct {
	serveRecord
	path string
}

// readServeRecords reads the records in dataDir of processes of pid namespace ns. Files that are
// not records, or not whole, are left out.
func readServeRecords(dataDir string, ns uint64) []recordFile {
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		return nil
	}
	prefix := fmt.Sprintf("%s%d-", serveRecordPrefix, ns)
	var records []recordFile
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), prefix) || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(dataDir, e.Name())
		data, err := os.ReadFile(path)
		var r serveRecord
		if err != nil || json.Unmarshal(data, &r) != nil || r.URL == "" {
			continue
		}
		records = append(records, recordFile{r, path})
	}
	return records
}

// alive reports whether the record's process is running in pid namespace ns of the kernel booted
// as boot, this process's: the same pid, started at the same time.
func (r recordFile) alive(boot string, ns uint64) bool {
	if r.Boot != boot || r.PIDNamespace != ns {
		return false
	}
	started, err := processStart(r.PID)
	return err == nil && started == r.Started
}

// thisPIDNamespace returns what names this process's pid namespace among those of every machine
// that may share a data directory: the kernel's boot_id and the namespace's inode.
func thisPIDNamespace() (boot string, ns uint64, err error) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", 0, err
	}
	if boot = strings.TrimSpace(string(b)); boot == "" {
		return "", 0, fmt.Errorf("/proc/sys/kernel/random/boot_id is empty")
	}
	ns, err = pidNamespace()
	return boot, ns, err
}

// pidNamespace returns the inode of this process's pid namespace ("pid:[4026531836]").
func pidNamespace() (uint64, error) {
	link, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return 0, err
	}
	inode, hasPrefix := strings.CutPrefix(link, "pid:[")
	inode, hasSuffix := strings.CutSuffix(inode, "]")
	if !hasPrefix || !hasSuffix {
		return 0, fmt.Errorf("/proc/self/ns/pid is %q", link)
	}
	return strconv.ParseUint(inode, 10, 64)
}

// processStart returns when process pid started, in clock ticks after boot: the 22nd field of
// /proc/PID/stat, counted after the command name in parentheses, which may hold anything.
func processStart(pid int) (uint64, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat has no command name", pid)
	}
	fields := strings.Fields(string(stat[i+1:])) // from the 3rd field, the state
	if len(fields) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat has %d fields", pid, len(fields)+2)
	}
	return strconv.ParseUint(fields[19], 10, 64)
}
