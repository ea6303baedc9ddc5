package main

import "testing"

func TestReserveGCHeadroom(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want int
	}{
		{"defaults", nil, gcHeadroom},
		{"GOGC set", map[string]string{"GOGC": "200"}, 0},
		{"GOGC off", map[string]string{"GOGC": "off"}, 0},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "512MiB"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := reserveGCHeadroom(func(k string) string { return tc.env[k] })
			if len(got) != tc.want {
				t.Errorf("reservation = %d bytes, want %d", len(got), tc.want)
			}
		})
	}
}
