package server

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/gen"
)

// encodeJSON is what echo's c.JSON wrote before the hand-written encoders: the reference.
func encodeJSON(t testing.TB, v any) string {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// jsonNames lists the JSON member names of a struct type.
func jsonNames(typ reflect.Type) []string {
	var names []string
	for i := 0; i < typ.NumField(); i++ {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// TestEncodersCoverGeneratedTypes fails when the contract gains a property the hand-written
// encoders do not write: regenerate, then extend appendEntity or appendErrorEnvelope.
func TestEncodersCoverGeneratedTypes(t *testing.T) {
	cases := []struct {
		typ  reflect.Type
		want []string
	}{
		{reflect.TypeFor[gen.MicrosoftGraphRemoteAssistanceSettings](),
			[]string{"@odata.context", "@odata.type", "allowSessionsToUnenrolledDevices", "blockChat", "id", "remoteAssistanceState"}},
		{reflect.TypeFor[gen.ODataError](), []string{"error"}},
		{reflect.TypeFor[gen.MainError](), []string{"code", "innerError", "message", "target"}},
		{reflect.TypeFor[gen.InnerError](), []string{"client-request-id", "date", "request-id"}},
	}
	for _, tc := range cases {
		if got := jsonNames(tc.typ); !slices.Equal(got, tc.want) {
			t.Errorf("%s has members %v; the encoder writes %v", tc.typ, got, tc.want)
		}
	}
}

func TestAppendEntityMatchesEncodingJSON(t *testing.T) {
	selections := [][]string{nil, {"blockChat"}, {"remoteAssistanceState", "id"}, {"allowSessionsToUnenrolledDevices", "blockChat", "remoteAssistanceState"}}
	hosts := []string{"localhost:8080", "exa<mple>&.com", "h\u2028st\xff", `"q"\`}
	for _, state := range remoteassist.States() {
		for _, flags := range []bool{false, true} {
			for _, sel := range selections {
				for _, host := range hosts {
					for _, scheme := range []string{"http://", "https://"} {
						s := remoteassist.Settings{ID: remoteassist.SettingsID("t"), RemoteAssistanceState: state,
							AllowSessionsToUnenrolledDevices: flags, BlockChat: !flags}
						var typed []gen.SelectableProperty
						for _, name := range sel {
							typed = append(typed, gen.SelectableProperty(name))
						}
						got := string(appendEntity(nil, s, scheme, host, typed))
						want := encodeJSON(t, reference(s, scheme, host, sel))
						if got != want {
							t.Fatalf("appendEntity:\n got %s\nwant %s", got, want)
						}
					}
				}
			}
		}
	}
}

// reference builds the entity the way the handler did before appendEntity.
func reference(s remoteassist.Settings, scheme, host string, selected []string) gen.MicrosoftGraphRemoteAssistanceSettings {
	ctx := scheme + host + BasePath + "/$metadata#deviceManagement/remoteAssistanceSettings"
	if len(selected) > 0 {
		ctx += "(" + strings.Join(selected, ",") + ")"
	}
	r := gen.MicrosoftGraphRemoteAssistanceSettings{
		OdataContext: ctx + "/$entity",
		OdataType:    gen.MicrosoftGraphRemoteAssistanceSettingsOdataTypeHashMicrosoftGraphRemoteAssistanceSettings,
		Id:           s.ID,
	}
	has := func(n string) bool { return len(selected) == 0 || slices.Contains(selected, n) }
	if has("allowSessionsToUnenrolledDevices") {
		r.AllowSessionsToUnenrolledDevices = &s.AllowSessionsToUnenrolledDevices
	}
	if has("remoteAssistanceState") {
		r.RemoteAssistanceState = &s.RemoteAssistanceState
	}
	if has("blockChat") {
		r.BlockChat = &s.BlockChat
	}
	return r
}

func TestAppendErrorEnvelopeMatchesEncodingJSON(t *testing.T) {
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.FixedZone("x", 3600))
	for _, target := range []string{"", "blockChat", "<&>\x01"} {
		for _, msg := range []string{"plain", "Invalid value for property 'x': \"on\". Allowed: a, b.", "tab\there\nnl \xff \u2029"} {
			got := string(appendErrorEnvelope(nil, "BadRequest", msg, target, now, "rid", "crid<>"))
			env := gen.ODataError{Error: gen.MainError{Code: "BadRequest", Message: msg,
				InnerError: gen.InnerError{Date: now.UTC().Format("2006-01-02T15:04:05"), RequestId: "rid", ClientRequestId: "crid<>"}}}
			if target != "" {
				env.Error.Target = &target
			}
			if want := encodeJSON(t, env); got != want {
				t.Fatalf("appendErrorEnvelope:\n got %s\nwant %s", got, want)
			}
		}
	}
}

// FuzzAppendJSONString holds the string encoder to encoding/json on any input.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "<script>&", "\x00\x1f\x7f", "\u2028\u2029", "\xff\xfe", "é漢🙂", `"\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONString(%q) = %s, encoding/json %s", s, got, want)
		}
	})
}
