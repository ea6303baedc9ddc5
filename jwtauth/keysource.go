package jwtauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// MaxJWKSSize bounds a fetched key set. Real ones are a few KiB; the bound keeps a broken or
// hostile provider from exhausting memory.
const MaxJWKSSize = 1 << 20

// fetchTimeout bounds one JWKS fetch. The fetch is shared by every request waiting for it, so it
// cannot use any one request's context.
const fetchTimeout = 10 * time.Second

// errRateLimited reports a refresh skipped because the previous attempt was too recent.
var errRateLimited = errors.New("key set refreshed too recently")

// keySet is one fetched generation of a JWKS.
type keySet struct {
	keys    map[string]*verKey
	fetched time.Time
}

// keySource is a JWKS that can change while the service runs: a file or a URL. Reads are
// lock-free; refreshes are serialised, rate limited and shared by concurrent callers.
type keySource struct {
	name        string // for error messages: which file or URL
	fetch       func(ctx context.Context) ([]byte, error)
	now         func() time.Time
	minInterval time.Duration // at most one fetch attempt per minInterval
	maxAge      time.Duration // a set older than this is refreshed in the background
	logger      *slog.Logger  // nil: no log of the fetches

	set         atomic.Pointer[keySet]
	group       singleflight.Group
	background  atomic.Bool // a background refresh is running
	mu          sync.Mutex  // guards the fields below
	attempted   bool
	lastAttempt time.Time
	lastErr     error
}

// fileSource reads the key set in the file at path. Its errors leave the path out, which the
// source's name gives: "no such file or directory", "is a directory".
func fileSource(path string) func(context.Context) ([]byte, error) {
	return func(context.Context) ([]byte, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, withoutPath(err)
		}
		defer f.Close()
		data, err := readLimited(f, "file")
		return data, withoutPath(err)
	}
}

// withoutPath is a file system error without the operation and path it repeats.
func withoutPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// ReadJWKSFile reads and parses the JWKS file at path as a Verifier with Config.JWKSFile does,
// so that a command can refuse an unusable one before it starts anything. Its error is a
// *SourceError, whose Err says why in a few words.
func ReadJWKSFile(path string) ([]PublicKey, error) {
	data, err := fileSource(path)(context.Background())
	if err == nil {
		var keys []PublicKey
		if keys, err = parseJWKS(data); err == nil {
			return keys, nil
		}
	}
	return nil, &SourceError{Source: fileSourceName(path), Err: err}
}

func fileSourceName(path string) string { return "JWKS file " + path }

// urlSource fetches the key set at rawURL, parsed as u, with client. Unless the client has a CheckRedirect of its
// own, a redirect is followed only to the same host and port, and never from https to http: the
// configured URL is the one the keys are trusted from, and a redirect elsewhere (an open
// redirect at the provider, or a downgrade a man in the middle could then answer) would let
// another server choose the keys. Such a fetch fails, keeping the keys fetched before.
func urlSource(client *http.Client, rawURL string, u *url.URL) func(context.Context) ([]byte, error) {
	if client.CheckRedirect == nil {
		c := *client
		c.CheckRedirect = sameHostRedirect(u)
		client = &c
	}
	return func(ctx context.Context) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			// Drain a little so the connection can be reused.
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
			return nil, fmt.Errorf("status %s", resp.Status)
		}
		return readLimited(resp.Body, "response")
	}
}

// maxRedirects is how many redirects within the JWKS URL's host a fetch follows, as net/http's
// default.
const maxRedirects = 10

// sameHostRedirect is the CheckRedirect of a JWKS fetch: it refuses, before anything is dialed, a
// redirect to another host or port than origin's, or from https to http.
func sameHostRedirect(origin *url.URL) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		switch {
		case len(via) >= maxRedirects:
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		case !sameHostPort(req.URL, origin):
			return fmt.Errorf("redirect to %s refused: keys are fetched only from %s; configure the URL the keys are at", req.URL.Redacted(), origin.Host)
		case origin.Scheme == "https" && req.URL.Scheme != "https":
			return fmt.Errorf("redirect to %s refused: it leaves https", req.URL.Redacted())
		}
		return nil
	}
}

// sameHostPort reports whether a and b name the same host (in any letter case) and port (a
// scheme's default one whether written or not), or the same host at each scheme's default port,
// as an upgrade from http to https moves it.
func sameHostPort(a, b *url.URL) bool {
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		if u.Scheme == "https" {
			return "443"
		}
		return "80"
	}
	return strings.EqualFold(a.Hostname(), b.Hostname()) && (port(a) == port(b) || a.Port() == "" && b.Port() == "")
}

// readLimited reads at most MaxJWKSSize bytes from r, the what ("file", "response") a key set
// is in.
func readLimited(r io.Reader, what string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxJWKSSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxJWKSSize {
		return nil, because(fmt.Sprintf("the %s is larger than %d bytes, the most a key set may hold", what, MaxJWKSSize), ErrJWKSTooLarge)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, because(fmt.Sprintf("the %s is empty (%s)", what, jwksShape), ErrJWKSEmpty)
	}
	return data, nil
}

// get returns the key with the kid from the current set, and starts a background refresh if the
// set is stale, so that removed keys stop being trusted without making any request wait.
func (s *keySource) get(kid string) *verKey {
	set := s.set.Load()
	if set == nil {
		return nil
	}
	if s.now().Sub(set.fetched) >= s.maxAge && s.allowed() && s.background.CompareAndSwap(false, true) {
		go func() {
			defer s.background.Store(false)
			_ = s.refresh(context.Background())
		}()
	}
	return set.keys[kid]
}

// allowed reports whether the rate limit would let a fetch start now. It is a cheap pre-check;
// refresh checks again under the lock.
func (s *keySource) allowed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.attempted || s.now().Sub(s.lastAttempt) >= s.minInterval
}

// refresh fetches the set unless the last attempt is less than minInterval ago. Concurrent
// callers share one fetch; a caller whose ctx ends stops waiting without cancelling the fetch for
// the others.
func (s *keySource) refresh(ctx context.Context) error {
	ch := s.group.DoChan("", func() (any, error) {
		s.mu.Lock()
		now := s.now()
		if s.attempted && now.Sub(s.lastAttempt) < s.minInterval {
			err := s.lastErr
			s.mu.Unlock()
			if err != nil {
				return nil, fmt.Errorf("%w (last attempt: %w)", errRateLimited, err)
			}
			return nil, errRateLimited
		}
		// Failed attempts count too, so an unreachable provider is not retried in a loop.
		s.attempted, s.lastAttempt = true, now
		s.mu.Unlock()

		err := s.load()
		s.mu.Lock()
		failedBefore := s.lastErr != nil
		s.lastErr = err
		s.mu.Unlock()
		s.report(err, failedBefore)
		return nil, err
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// report logs a fetch that failed, and one that succeeded after failures.
func (s *keySource) report(err error, failedBefore bool) {
	switch {
	case s.logger == nil:
	case err != nil && s.set.Load() != nil:
		s.logger.Warn("JWKS fetch failed; the keys fetched before stay trusted", "error", err)
	case err != nil:
		s.logger.Warn("JWKS fetch failed; no key of it is trusted yet, so its tokens are answered 503", "error", err)
	case failedBefore:
		s.logger.Info("JWKS fetched again after failures", "source", s.name, "keys", len(s.set.Load().keys))
	}
}

// load fetches and installs a new set. A failed fetch or a set without usable keys leaves the
// previous set in place; the error is a *SourceError.
func (s *keySource) load() error {
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	data, err := s.fetch(ctx)
	if err != nil {
		return &SourceError{Source: s.name, Err: err}
	}
	keys, err := parseJWKS(data)
	if err != nil {
		return &SourceError{Source: s.name, Err: err}
	}
	var prev map[string]*verKey
	if old := s.set.Load(); old != nil {
		prev = old.keys
	}
	m := make(map[string]*verKey, len(keys))
	for _, k := range keys {
		vk, err := k.bind() // cannot fail: ParseJWKS returns bound-checked keys
		if err != nil {
			return &SourceError{Source: s.name, Err: err}
		}
		// A key the set still holds unchanged stays the same *verKey, so that the tokens it
		// verified stay cached (the cache trusts a token while its key is in the set).
		if p := prev[vk.kid]; p != nil && p.same(vk) {
			vk = p
		}
		m[vk.kid] = vk
	}
	s.set.Store(&keySet{keys: m, fetched: s.now()})
	return nil
}
