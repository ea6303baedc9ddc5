package server

import (
	"bytes"
	"context"
	"errors"
	"io"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/remoteassist/remoteassist"
)

// A body member that maps names to values of one schema (the admin API's snapshot: each
// tenant's settings by tenant id) is as large as the listener lets the body be: a million
// entries. Decoded whole into the generic values kin-openapi validates, then bound, a snapshot
// of a million tenants (99 MB) took 2.1 GB of the process's memory. The contract marks such a
// member x-remoteassist-streamed; it is the operation's entries (entriesOf, contract.go).
// validateEntries validates the body holding at most one entry's generic value at a time, and
// the handler takes the entries one at a time (eachEntry), never from the validated body, which
// holds none of them. kin-openapi is still the validator of every entry it must see and of the
// rest of the body, and the verdict is the one its walk of the whole body gives
// (TestEntriesValidatedAsTheWholeBody, FuzzEntries).

var (
	// errNotAnObject is walkEntries's answer for a body that is not a JSON object.
	errNotAnObject = errors.New("server: the body is not an object")
	// errAfterValue is walkEntries's cause for a body with a JSON value after its object.
	errAfterValue = errors.New("server: a JSON value after the body's")
)

// walkEntries reads data, a JSON object, member by member: every member goes to member with its
// name and raw JSON, but for the member named entries when it is an object, which goes to member
// with a nil raw, then entry by entry to entry. A body that does not begin as an object (not
// JSON, or another value) is errNotAnObject, which validateBody explains; one that goes on as no
// JSON does, or names a member twice, is decodeBody's error for it. An error of entry or member
// ends the walk.
func walkEntries(data []byte, entries string, member, entry func(name string, raw jsontext.Value) error) error {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	dec := jsontext.NewDecoder(bytes.NewReader(data), jsontext.AllowInvalidUTF8(true))
	fail := func(err error) error { return explainDecodeError(data, err) }
	if dec.PeekKind() != '{' {
		return errNotAnObject
	}
	if _, err := dec.ReadToken(); err != nil {
		return fail(err)
	}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return fail(err)
		}
		name := tok.String()
		if name != entries || dec.PeekKind() != '{' {
			raw, err := dec.ReadValue()
			if err != nil {
				return fail(err)
			}
			if err := member(name, raw); err != nil {
				return err
			}
			continue
		}
		if _, err := dec.ReadToken(); err != nil {
			return fail(err)
		}
		if err := member(name, nil); err != nil {
			return err
		}
		for dec.PeekKind() != '}' {
			tok, err := dec.ReadToken()
			if err != nil {
				return fail(err)
			}
			name := tok.String() // before the next read, which voids the token
			raw, err := dec.ReadValue()
			if err != nil {
				return fail(err)
			}
			if err := entry(name, raw); err != nil {
				return err
			}
		}
		if _, err := dec.ReadToken(); err != nil {
			return fail(err)
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return fail(err)
	}
	// What follows the object: white space only (a decoder reads a stream of values).
	switch _, err := dec.ReadToken(); {
	case err == nil:
		return fail(errAfterValue)
	case err != io.EOF:
		return fail(err)
	}
	return nil
}

// validateEntries is validateBody for a body with entries (op.entries). Each entry is decoded
// and validated on its own by kin-openapi, and dropped (an entry whose name sorts after one
// refused already is not validated: it cannot be the one named); the verdict on the whole body
// is then kin-openapi's (checkBody) on a stand-in: the body with its entries replaced by the
// first refused one, in byte order of the names, or by none. That is the verdict of kin-openapi's walk of the whole body, which visits an object's
// members in byte order and stops at the first refusal. The value returned is the stand-in,
// without the entries, which the handler takes from eachEntry.
func validateEntries(ctx context.Context, data []byte, op *operation, fold bool) (any, failureClass, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return validateBody(ctx, data, op, fold)
	}
	top := map[string]any{}
	var refusedName string
	var refused any // may be null
	hasRefused := false
	err := walkEntries(data, op.entries,
		func(name string, raw jsontext.Value) error {
			if raw == nil {
				top[name] = map[string]any{} // the entries' stand-in, filled below
				return nil
			}
			value, err := decodeBody(raw)
			top[name] = value
			return err
		},
		func(name string, raw jsontext.Value) error {
			// Not the first refused entry, whatever its value; or the client is gone: the rest of
			// the body is only read, since a body that is not JSON is refused as such even then.
			if hasRefused && name > refusedName || ctx.Err() != nil {
				return nil
			}
			value, err := decodeBody(raw)
			if err != nil {
				return err
			}
			if op.entry.VisitJSON(value, bodyOptions...) != nil {
				refusedName, refused, hasRefused = name, value, true
			}
			return nil
		})
	switch {
	case errors.Is(err, errNotAnObject):
		return validateBody(ctx, data, op, fold)
	case err != nil:
		return nil, failJSON, err
	case ctx.Err() != nil:
		return nil, failNone, ctx.Err()
	}
	if hasRefused {
		top[op.entries].(map[string]any)[refusedName] = refused
	}
	if class, err := checkBody(op, top); err != nil {
		return nil, class, err
	}
	return top, failNone, nil
}

// eachEntry calls fn with the name and the validated value of each entry of data, a body of op
// that validateEntries accepted, in the body's order.
func eachEntry(data []byte, op *operation, fn func(name string, value any) error) error {
	if op == nil || op.entries == "" {
		return remoteassist.Internal(errors.New("server: the operation's body has no entries"))
	}
	return walkEntries(data, op.entries,
		func(string, jsontext.Value) error { return nil }, // validated: nothing the handler takes
		func(name string, raw jsontext.Value) error {
			value, err := decodeBody(raw)
			if err != nil {
				return remoteassist.Internal(err)
			}
			return fn(name, value)
		})
}
