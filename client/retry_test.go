package client

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{" 7 ", 7 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"99999999999999999", 24 * time.Hour},
		{"soon", 0},
		{"1.5", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"Sat, 28 Nov 2026 10:00:30 GMT", 30 * time.Second},
		{"Saturday, 28-Nov-26 10:00:30 GMT", 30 * time.Second}, // RFC 850, which HTTP dates allow
	}
	for _, tc := range tests {
		if got := retryAfter(tc.header, now); got != tc.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
}

func TestRetryDelay(t *testing.T) {
	p := retryPolicy{max: 5, baseDelay: 100 * time.Millisecond, maxDelay: time.Second}
	lowest := func(int64) int64 { return 0 }
	highest := func(n int64) int64 { return n - 1 }
	tests := []struct {
		name       string
		n          int
		retryAfter time.Duration
		jitter     func(int64) int64
		want       time.Duration
		wantOK     bool
	}{
		{"first retry, lowest jitter", 0, 0, lowest, 50 * time.Millisecond, true},
		{"first retry, highest jitter", 0, 0, highest, 100 * time.Millisecond, true},
		{"doubles", 1, 0, highest, 200 * time.Millisecond, true},
		{"doubles again", 2, 0, lowest, 200 * time.Millisecond, true},
		{"capped at maxDelay", 10, 0, highest, time.Second, true},
		{"Retry-After obeyed exactly", 0, 700 * time.Millisecond, highest, 700 * time.Millisecond, true},
		{"Retry-After at maxDelay", 3, time.Second, lowest, time.Second, true},
		{"Retry-After over maxDelay gives up", 0, 2 * time.Second, lowest, 2 * time.Second, false},
	}
	for _, tc := range tests {
		got, ok := p.delay(tc.n, tc.retryAfter, tc.jitter)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("%s: delay(%d, %v) = %v, %v; want %v, %v", tc.name, tc.n, tc.retryAfter, got, ok, tc.want, tc.wantOK)
		}
	}
	// A zero base delay retries at once rather than dividing by nothing.
	if d, ok := (retryPolicy{max: 1}).delay(0, 0, lowest); d != 0 || !ok {
		t.Errorf("zero policy: delay = %v, %v; want 0, true", d, ok)
	}
}
