package bolt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/remoteassist/remoteassist"
)

// The stored form of a tenant's settings, format 2 (this code writes no other):
//
//	byte 0          record version, 2
//	byte 1          flags: bit 0 allowSessionsToUnenrolledDevices, bit 1 blockChat; no other bit set
//	byte 2          n, the length of the state
//	bytes 3..3+n    remoteAssistanceState, UTF-8
//	last 4 bytes    CRC-32C (Castagnoli), big-endian, of uvarint(len(key)) || key || bytes 0..3+n
//
// The checksum covers the key, so a record that is intact but found under another key (a damaged
// key, a damaged page pointer) fails it as surely as a damaged value; the key's length is in it
// so that moving a byte between the key and the value changes the sum. Format 1, JSON without a
// checksum, is only read, to upgrade a file written by an earlier version (see migrate).
const (
	recordVersion = 2
	flagAllow     = 1 << 0
	flagBlockChat = 1 << 1
	recordHeader  = 3
	recordSumSize = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// recordSum is the checksum of a record's key and body (the record without its checksum).
func recordSum(key, body []byte) uint32 {
	var n [binary.MaxVarintLen64]byte
	sum := crc32.Update(0, castagnoli, n[:binary.PutUvarint(n[:], uint64(len(key)))])
	sum = crc32.Update(sum, castagnoli, key)
	return crc32.Update(sum, castagnoli, body)
}

// encode returns the stored form of a tenant's settings and its checksum.
func encode(tenant string, s remoteassist.Settings) ([]byte, uint32) {
	state := string(s.RemoteAssistanceState)
	v := make([]byte, recordHeader, recordHeader+len(state)+recordSumSize)
	v[0] = recordVersion
	if s.AllowSessionsToUnenrolledDevices {
		v[1] |= flagAllow
	}
	if s.BlockChat {
		v[1] |= flagBlockChat
	}
	v[2] = byte(len(state)) // every state of the contract is far shorter than 256 bytes
	v = append(v, state...)
	sum := recordSum([]byte(tenant), v)
	return binary.BigEndian.AppendUint32(v, sum), sum
}

// errChecksum is the cause of a record that fails its checksum.
var errChecksum = errors.New("the record fails its checksum")

// decode accepts exactly what encode writes, with a checksum that matches the key, and returns
// the settings and the checksum.
func decode(tenant string, key, v []byte) (remoteassist.Settings, uint32, error) {
	r, err := parse(key, v)
	if err != nil {
		return remoteassist.Settings{}, 0, err
	}
	return remoteassist.Settings{
		ID:                               remoteassist.SettingsID(tenant),
		AllowSessionsToUnenrolledDevices: r.flags&flagAllow != 0,
		RemoteAssistanceState:            r.state,
		BlockChat:                        r.flags&flagBlockChat != 0,
	}, r.sum, nil
}

// parsed is a record that passed parse.
type parsed struct {
	flags byte
	state remoteassist.State
	sum   uint32
}

// parse checks a record stored under key: its checksum, then that it is what encode writes. It
// does no more than that (no settings id), so that a check of every record stays cheap.
func parse(key, v []byte) (parsed, error) {
	if len(v) < recordHeader+recordSumSize {
		return parsed{}, fmt.Errorf("the record is %d bytes, too short", len(v))
	}
	body, stored := v[:len(v)-recordSumSize], binary.BigEndian.Uint32(v[len(v)-recordSumSize:])
	sum := recordSum(key, body)
	if sum != stored {
		return parsed{}, errChecksum
	}
	// The checksum matched: what follows catches records this code would not write, not damage.
	if body[0] != recordVersion {
		return parsed{}, fmt.Errorf("unknown record version %d", body[0])
	}
	if body[1]&^(flagAllow|flagBlockChat) != 0 {
		return parsed{}, fmt.Errorf("unknown flags %#x", body[1])
	}
	if int(body[2]) != len(body)-recordHeader {
		return parsed{}, errors.New("the state's length does not match the record's")
	}
	// The contract's own constant, found without converting the bytes (and so without an
	// allocation per record).
	for _, state := range states {
		if string(body[recordHeader:]) == string(state) {
			return parsed{flags: body[1], state: state, sum: sum}, nil
		}
	}
	return parsed{}, fmt.Errorf("remoteAssistanceState %q is not in the contract", body[recordHeader:])
}

// states are the contract's states, listed once.
var states = remoteassist.States()

// recordV1 is format 1: JSON, no checksum. Only migrate reads it.
type recordV1 struct {
	Version                          int     `json:"v"`
	AllowSessionsToUnenrolledDevices *bool   `json:"allowSessionsToUnenrolledDevices"`
	RemoteAssistanceState            *string `json:"remoteAssistanceState"`
	BlockChat                        *bool   `json:"blockChat"`
}

// decodeV1 accepts exactly what format 1's encoder wrote: every field present, nothing unknown,
// nothing after the object, version 1 and an in-contract state.
func decodeV1(tenant string, v []byte) (remoteassist.Settings, error) {
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.DisallowUnknownFields()
	var r recordV1
	if err := dec.Decode(&r); err != nil {
		return remoteassist.Settings{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return remoteassist.Settings{}, errors.New("data after the record")
	}
	if r.Version != 1 {
		return remoteassist.Settings{}, fmt.Errorf("unknown record version %d", r.Version)
	}
	if r.AllowSessionsToUnenrolledDevices == nil || r.RemoteAssistanceState == nil || r.BlockChat == nil {
		return remoteassist.Settings{}, errors.New("a field is missing")
	}
	s := remoteassist.Settings{
		ID:                               remoteassist.SettingsID(tenant),
		AllowSessionsToUnenrolledDevices: *r.AllowSessionsToUnenrolledDevices,
		RemoteAssistanceState:            remoteassist.State(*r.RemoteAssistanceState),
		BlockChat:                        *r.BlockChat,
	}
	if err := s.Validate(); err != nil {
		return remoteassist.Settings{}, err
	}
	return s, nil
}
