package testutil

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/remoteassist/remoteassist/internal/kinloader"
)

// DumpKinDocument writes every leaf of a kin-openapi document (or any value) as a line: its path,
// its type, and its value, and for a value held in an interface its dynamic type, so that two
// documents that marshal to the same JSON but hold an int where the other holds a float64
// differ. Unexported fields count, except the loader's bookkeeping. The value must not refer
// to itself.
func DumpKinDocument(v any) string {
	var b strings.Builder
	dump(&b, "", reflect.ValueOf(v))
	return b.String()
}

func dump(b *strings.Builder, path string, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return
		}
		if v.Kind() == reflect.Interface {
			fmt.Fprintf(b, "%s %s\n", path, v.Elem().Type())
		}
		dump(b, path, v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Type().Field(i); !kinloader.Field(v.Type(), f.Name) {
				dump(b, path+"."+f.Name, v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			dump(b, fmt.Sprintf("%s[%d]", path, i), v.Index(i))
		}
	case reflect.Map:
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		for _, k := range keys {
			dump(b, fmt.Sprintf("%s[%q]", path, fmt.Sprint(k)), v.MapIndex(k))
		}
	case reflect.String:
		fmt.Fprintf(b, "%s %s %q\n", path, v.Type(), v.String())
	case reflect.Func, reflect.Chan, reflect.UnsafePointer:
		if !v.IsNil() {
			fmt.Fprintf(b, "%s %s set\n", path, v.Type())
		}
	default:
		fmt.Fprintf(b, "%s %s %v\n", path, v.Type(), v)
	}
}

// FirstDifference describes the first line where a and b differ, for a test's failure message;
// "" when they are equal.
func FirstDifference(a, b string) string {
	if a == b {
		return ""
	}
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n  %s\n  %s", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("%d lines against %d", len(al), len(bl))
}
