package server

import (
	"slices"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/gen"
)

// The two response bodies of the API, the entity and the Graph error envelope, are appended to
// a reused buffer by hand instead of going through encoding/json's reflection. The output is
// byte for byte what json.NewEncoder(w).Encode of the generated types gives (same member
// order, same escaping, trailing newline): encode_test.go holds them to it, and fails when a
// generated type gains a field these functions do not write.

// appendEntity appends the settings as gen.MicrosoftGraphRemoteAssistanceSettings encodes:
// only the selected settable properties when selected is not empty. The @odata.context URL is
// written piece by piece (escaping is per character, so that is the same as escaping the
// joined string) to save building it.
func appendEntity(b []byte, s remoteassist.Settings, scheme, host string, selected []gen.SelectableProperty) []byte {
	all := len(selected) == 0
	b = append(b, `{"@odata.context":"`...)
	b = appendEscaped(b, scheme)
	b = appendEscaped(b, host)
	b = append(b, BasePath+"/$metadata#deviceManagement/remoteAssistanceSettings"...)
	if !all {
		b = append(b, '(')
		for i, name := range selected {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendEscaped(b, string(name))
		}
		b = append(b, ')')
	}
	b = append(b, `/$entity"`...)
	b = append(b, `,"@odata.type":`...)
	b = appendJSONString(b, string(gen.MicrosoftGraphRemoteAssistanceSettingsOdataTypeHashMicrosoftGraphRemoteAssistanceSettings))
	if all || slices.Contains(selected, gen.SelectablePropertyAllowSessionsToUnenrolledDevices) {
		b = append(b, `,"allowSessionsToUnenrolledDevices":`...)
		b = appendBool(b, s.AllowSessionsToUnenrolledDevices)
	}
	if all || slices.Contains(selected, gen.SelectablePropertyBlockChat) {
		b = append(b, `,"blockChat":`...)
		b = appendBool(b, s.BlockChat)
	}
	b = append(b, `,"id":`...)
	b = appendJSONString(b, s.ID)
	if all || slices.Contains(selected, gen.SelectablePropertyRemoteAssistanceState) {
		b = append(b, `,"remoteAssistanceState":`...)
		b = appendJSONString(b, string(s.RemoteAssistanceState))
	}
	return append(b, "}\n"...)
}

// appendErrorEnvelope appends the Graph error envelope as gen.ODataError encodes.
func appendErrorEnvelope(b []byte, code, message, target string, now time.Time, requestID, clientRequestID string) []byte {
	b = append(b, `{"error":{"code":`...)
	b = appendJSONString(b, code)
	b = append(b, `,"innerError":{"client-request-id":`...)
	b = appendJSONString(b, clientRequestID)
	b = append(b, `,"date":"`...)
	b = now.UTC().AppendFormat(b, "2006-01-02T15:04:05")
	b = append(b, `","request-id":`...)
	b = appendJSONString(b, requestID)
	b = append(b, `},"message":`...)
	b = appendJSONString(b, message)
	if target != "" {
		b = append(b, `,"target":`...)
		b = appendJSONString(b, target)
	}
	return append(b, "}}\n"...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// appendJSONString appends s as a JSON string exactly as encoding/json does with HTML escaping
// on (its default): <, > and & escaped, invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029
// escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendEscaped(b, s)
	return append(b, '"')
}

// appendEscaped appends the inside of the JSON string of s.
func appendEscaped(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

// writeJSON writes a complete JSON response.
func writeJSON(res *echo.Response, status int, body []byte) error {
	res.Header()["Content-Type"] = contentTypeJSON
	res.WriteHeader(status)
	_, err := res.Write(body)
	return err
}

// writeStatic writes a constant JSON body.
func writeStatic(c echo.Context, status int, body string) error {
	res := c.Response()
	res.Header()["Content-Type"] = contentTypeJSON
	res.WriteHeader(status)
	_, err := res.Write([]byte(body))
	return err
}
