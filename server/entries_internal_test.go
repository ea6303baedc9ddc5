package server

import (
	"context"
	"errors"
	"github.com/getkin/kin-openapi/openapi3"
	"reflect"
	"strings"
	"testing"

	"github.com/remoteassist/remoteassist"
)

// snapshotOps returns the admin contract's snapshot import as the server compiles it, and the
// same operation with its body validated whole, as every other body is.
func snapshotOps(tb testing.TB) (streamed, whole *operation) {
	tb.Helper()
	ops := adminOperations(tb)
	streamed = ops["importSnapshot"]
	if streamed == nil || streamed.entries != "tenants" {
		tb.Fatalf("importSnapshot's entries: %+v", streamed)
	}
	for id, op := range ops {
		if op != streamed && op.entries != "" {
			tb.Errorf("%s has entries %q: only the snapshot's body maps names to values", id, op.entries)
		}
	}
	w := *streamed
	w.entries, w.entry = "", nil
	return streamed, &w
}

// entriesVerdict is what validateEntries and eachEntry make of body, in the terms validateBody's
// verdict on the whole body is compared in: the failure class, the error's code, target and
// message, and the body's value with its entries back in it.
func entriesVerdict(t *testing.T, op *operation, body string) (any, failureClass, string) {
	t.Helper()
	value, class, err := validateEntries(context.Background(), []byte(body), op, false)
	if err != nil {
		return nil, class, describe(err)
	}
	top, ok := value.(map[string]any)
	if !ok {
		t.Fatalf("accepted %q as %T", body, value)
	}
	if stand, isMap := top[op.entries].(map[string]any); isMap {
		if len(stand) != 0 {
			t.Errorf("accepted %q with a refused entry in its stand-in: %v", body, stand)
		}
		entries := map[string]any{}
		if err := eachEntry([]byte(body), op, func(name string, v any) error {
			if _, dup := entries[name]; dup {
				t.Errorf("entry %q listed twice", name)
			}
			entries[name] = v
			return nil
		}); err != nil {
			t.Fatalf("eachEntry(%q): %v", body, err)
		}
		top[op.entries] = entries
	}
	return top, class, ""
}

func describe(err error) string {
	var e *remoteassist.Error
	if !errors.As(err, &e) {
		return "not a remoteassist.Error: " + err.Error()
	}
	return string(e.Code) + " | " + e.Target + " | " + e.Message
}

// checkEntriesAgainstWhole fails unless the snapshot's body gets the very verdict, value or
// refusal, that validating it whole gives.
func checkEntriesAgainstWhole(t *testing.T, streamed, whole *operation, body string) {
	t.Helper()
	wantValue, wantClass, wantErr := validateBody(context.Background(), []byte(body), whole, false)
	want := ""
	if wantErr != nil {
		want, wantValue = describe(wantErr), nil
	}
	gotValue, gotClass, got := entriesVerdict(t, streamed, body)
	if got != want || gotClass != wantClass {
		t.Fatalf("body %q:\n entries: %d %s\n whole:   %d %s", body, gotClass, got, wantClass, want)
	}
	if !reflect.DeepEqual(gotValue, wantValue) {
		t.Fatalf("body %q accepted as\n %#v\nwhole:\n %#v", body, gotValue, wantValue)
	}
}

var snapshotBodies = []string{
	`{"tenants":{}}`,
	`{"tenants":{"contoso":{"blockChat":true},"fabrikam":{"remoteAssistanceState":"enabled"}}}`,
	"\xef\xbb\xbf" + `{"tenants":{"a":{}}}`,
	` {"tenants" : { "a" : { "blockChat" : false } } } ` + "\n",
	`{"tenants":{"b":{"blockChat":1},"a":{"blockChat":"x"}}}`,
	`{"tenants":{"a":{"blockChat":1},"b":{"blockChat":"x"}}}`,
	`{"tenants":{"b":{"blockChat":1},"a":{"nope":true},"c":{"remoteAssistanceState":"on"}}}`,
	`{"tenants":{"a":{"blockChat":true},"a":{"blockChat":false}}}`,
	`{"tenants":{"a":{"blockChat":true,"blockChat":false}}}`,
	`{"tenants":{"a":{"blockChat":1}},"tenants":{}}`,
	`{"tenants":{"a":{"blockChat":1}},"extra":1}`,
	`{"extra":1,"tenants":{"a":{"blockChat":1}}}`,
	`{"Tenants":{"a":{"blockChat":1}},"zzz":{}}`,
	`{"tenants":{"a":{"blockChat":1}}`,
	`{"tenants":{"a":{"blockChat":1}}} x`,
	`{"tenants":{"a":{"blockChat":1}}} {}`,
	`{"tenants":{"a":{"blockChat":true}},}`,
	`{"tenants":[]}`,
	`{"tenants":null}`,
	`{"tenants":"x"}`,
	`{"tenants":{"a":null}}`,
	`{"tenants":{"a":[]}}`,
	`{"tenants":{"a":{"blockChat":1e400}}}`,
	`{"tenants":{"a":{"x":1e400}},"b":1e400}`,
	`{"tenants":{"\u00e9":{"remoteAssistanceState":"disabled"},"\ud800":{}}}`,
	"{\"tenants\":{\"a\xff\":{\"remoteAssistanceState\":\"dis\xffabled\"}}}",
	`{}`,
	`[]`,
	`[{"tenants":{}}]`,
	`null`,
	`"x"`,
	``,
	`   `,
	`{`,
	`{"tenants":{"a":{"blockChat":true}}}}`,
}

func TestEntriesValidatedAsTheWholeBody(t *testing.T) {
	streamed, whole := snapshotOps(t)
	for _, body := range snapshotBodies {
		checkEntriesAgainstWhole(t, streamed, whole, body)
	}
	// The first refused entry in byte order is the one named, wherever it is in the body.
	_, _, msg := entriesVerdict(t, streamed, `{"tenants":{"c":{"blockChat":1},"b":{"blockChat":2},"d":{"blockChat":3}}}`)
	if !strings.Contains(msg, "tenants/b/blockChat") {
		t.Errorf("refusal names another entry than the first: %s", msg)
	}
}

func FuzzEntries(f *testing.F) {
	for _, body := range snapshotBodies {
		f.Add(body)
	}
	streamed, whole := snapshotOps(f)
	f.Fuzz(func(t *testing.T, body string) {
		checkEntriesAgainstWhole(t, streamed, whole, body)
	})
}

// A request whose body has no entries never reaches eachEntry but by a bug, which is a 500.
func TestEachEntryOfABodyWithout(t *testing.T) {
	err := eachEntry([]byte(`{}`), &operation{}, func(string, any) error { return nil })
	if remoteassist.ErrorCode(err) != remoteassist.EINTERNAL {
		t.Errorf("eachEntry without entries: %v", err)
	}
}

// Only what the contract marks is read an entry at a time, and only where that can be done as
// validating the whole body does: anything else stops the server at start-up.
func TestEntriesOnlyWhereMarked(t *testing.T) {
	for _, p := range remoteassist.Profiles() {
		for id, op := range apiOperations(t, p) {
			if op.entries != "" {
				t.Errorf("profile %s: %s reads %s an entry at a time", p, id, op.entries)
			}
		}
	}
	entry := openapi3.NewSchemaRef("", openapi3.NewObjectSchema())
	plainMap := func() *openapi3.Schema {
		m := openapi3.NewObjectSchema()
		m.AdditionalProperties = openapi3.AdditionalProperties{Schema: entry}
		m.Extensions = map[string]any{streamedExtension: true}
		return m
	}
	body := func(members map[string]*openapi3.Schema) *openapi3.Schema {
		s := openapi3.NewObjectSchema()
		for name, m := range members {
			s.WithProperty(name, m)
		}
		return s
	}
	if name, schema, err := entriesOf(body(map[string]*openapi3.Schema{"m": plainMap()})); name != "m" || schema != entry.Value || err != nil {
		t.Errorf("a marked plain map: %q, %v, %v", name, schema, err)
	}
	unmarked := plainMap()
	unmarked.Extensions = nil
	if name, _, err := entriesOf(body(map[string]*openapi3.Schema{"m": unmarked})); name != "" || err != nil {
		t.Errorf("an unmarked plain map: %q, %v", name, err)
	}
	counted := plainMap()
	counted.MaxProps = openapi3.Uint64Ptr(3)
	notAMap := openapi3.NewStringSchema()
	notAMap.Extensions = map[string]any{streamedExtension: true}
	oneOf := body(map[string]*openapi3.Schema{"m": plainMap()})
	oneOf.OneOf = openapi3.SchemaRefs{openapi3.NewSchemaRef("", openapi3.NewObjectSchema())}
	for what, s := range map[string]*openapi3.Schema{
		"a map that bounds its members": body(map[string]*openapi3.Schema{"m": counted}),
		"a map with properties":         body(map[string]*openapi3.Schema{"m": plainMap().WithProperty("p", openapi3.NewStringSchema())}),
		"not a map":                     body(map[string]*openapi3.Schema{"m": notAMap}),
		"two marked maps":               body(map[string]*openapi3.Schema{"m": plainMap(), "n": plainMap()}),
		"a body of alternatives":        oneOf,
	} {
		if name, _, err := entriesOf(s); err == nil {
			t.Errorf("%s: read an entry at a time (%q)", what, name)
		}
	}
}

// A body that is not JSON is refused as not JSON even when its client is gone, as validateBody
// refuses it; a well-formed one is the client's going.
func TestEntriesOfAClientGone(t *testing.T) {
	streamed, whole := snapshotOps(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, body := range []string{`{"tenants":{"a":{}}`, `{"tenants":{}} x`, `{"tenants":{"a":{}}}`} {
		_, wantClass, wantErr := validateBody(ctx, []byte(body), whole, false)
		_, gotClass, gotErr := validateEntries(ctx, []byte(body), streamed, false)
		if gotClass != wantClass || (gotErr == nil) != (wantErr == nil) ||
			(errors.Is(wantErr, context.Canceled) != errors.Is(gotErr, context.Canceled)) {
			t.Errorf("%s: %d %v, whole %d %v", body, gotClass, gotErr, wantClass, wantErr)
		}
	}
}
