package yamljson

import "testing"

func TestConvert(t *testing.T) {
	src := `
z: 1
a:
  s: "text <b> & more"
  plain: hello
  quoted_int: '200'
  int: 200
  hex: 0x1F
  float: 1.5
  exp: 1e3
  t: true
  n: null
  tilde: ~
  date: 2026-11-28
  anchor: &x [1, two, {k: v}]
  alias: *x
  block: |
    line 1
    line 2
  empty: {}
  list: []
200: numeric key
`
	got, err := Convert([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "z": 1,
  "a": {
    "s": "text <b> & more",
    "plain": "hello",
    "quoted_int": "200",
    "int": 200,
    "hex": 31,
    "float": 1.5,
    "exp": 1000,
    "t": true,
    "n": null,
    "tilde": null,
    "date": "2026-11-28",
    "anchor": [
      1,
      "two",
      {
        "k": "v"
      }
    ],
    "alias": [
      1,
      "two",
      {
        "k": "v"
      }
    ],
    "block": "line 1\nline 2\n",
    "empty": {},
    "list": []
  },
  "200": "numeric key"
}
`
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestConvertRefuses(t *testing.T) {
	for name, spec := range map[string]string{
		"empty":      "",
		"not yaml":   "openapi: [3.0.3\n",
		"two docs":   "openapi: 3.0.3\n---\nopenapi: 3.0.3\n",
		"scalar":     "just a string\n",
		"nan":        "openapi: 3.0.3\nx: .nan\n",
		"inf":        "openapi: 3.0.3\nx: -.inf\n",
		"merge":      "a: &a {b: 1}\nc:\n  <<: *a\n",
		"duplicate":  "a: 1\na: 2\n",
		"binary":     "a: !!binary aGVsbG8=\n",
		"custom tag": "a: !foo bar\n",
		"non-scalar": "? [a, b]\n: c\n",
	} {
		if _, err := Convert([]byte(spec)); err == nil {
			t.Errorf("%s: Convert accepted %q", name, spec)
		}
	}
}
