// Package client is the Go client of the remote assistance settings API: Microsoft Graph's
// Intune /deviceManagement/remoteAssistanceSettings (beta), as served by remoteassist or by
// Graph itself.
//
// It is built on the client generated from the contract (package gen/apiclient) and adds what the
// generated code leaves to its caller: typed settings and partial updates, Graph errors as
// *Error values, bearer tokens with one refresh after a 401, retries of 429, 503 and 504 with
// backoff that honours Retry-After, and a client-request-id per call for tracing.
//
// For tests, package remoteassisttest runs the real service in process and hands out clients
// for it.
package client

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/gen/apiclient"
	"github.com/remoteassist/remoteassist/gen/models"
	"github.com/remoteassist/remoteassist/internal/requestid"
)

// DefaultUserAgent is the User-Agent sent unless WithUserAgent replaces it.
const DefaultUserAgent = "remoteassist-go-client/1.0"

// DefaultTimeout bounds each attempt of a call when WithHTTPClient does not supply a client:
// the same 100 seconds Microsoft's Graph SDKs use. A context deadline bounds the whole call.
const DefaultTimeout = 100 * time.Second

// maxBody bounds how much of a response is read. The entity is a few hundred bytes; the limit
// only protects against a wrong URL that streams something large.
const maxBody = 1 << 20

// TokenSource returns a bearer token. forceRefresh is true when the service has just refused
// the token the source returned before (401): the source should then get a new one rather
// than return a cached one. It is called once per attempt, so it should cache, and from every
// goroutine that uses the Client at the same time, so it must be safe for concurrent use.
type TokenSource func(ctx context.Context, forceRefresh bool) (string, error)

// Client talks to the service. It is safe for concurrent use.
type Client struct {
	api         apiclient.ClientInterface
	tokens      TokenSource
	refreshable bool // whether a 401 is worth one retry with a refreshed token
	userAgent   string
	retry       retryPolicy
	profile     remoteassist.Profile
	hc          *http.Client // the client requests go through, for CloseIdleConnections

	// Hooks that tests replace to observe waits without waiting.
	sleep  func(ctx context.Context, d time.Duration) error
	now    func() time.Time
	jitter func(n int64) int64
}

// Option configures a Client.
type Option func(*options) error

type options struct {
	httpClient *http.Client
	tokens     TokenSource
	refresh    bool
	userAgent  string
	retry      retryPolicy
	profile    remoteassist.Profile
	rootCAs    *x509.CertPool
}

// WithToken sends a fixed bearer token with every request. A 401 is returned as is, since
// asking again would give the same token.
func WithToken(token string) Option {
	return func(o *options) error {
		if token == "" {
			return errors.New("client: WithToken: the token is empty")
		}
		o.tokens = func(context.Context, bool) (string, error) { return token, nil }
		o.refresh = false
		return nil
	}
}

// WithTokenSource gets the bearer token from src before every attempt. After a 401 the
// source is called once with forceRefresh set and the request is sent once more.
func WithTokenSource(src TokenSource) Option {
	return func(o *options) error {
		if src == nil {
			return errors.New("client: WithTokenSource: the source is nil")
		}
		o.tokens = src
		o.refresh = true
		return nil
	}
}

// WithHTTPClient sends requests through hc instead of a client with DefaultTimeout, for
// proxies, custom TLS or test transports. With WithRootCAs or WithCAFile, the client used is a
// copy of hc whose transport trusts those CAs.
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) error {
		if hc == nil {
			return errors.New("client: WithHTTPClient: the client is nil")
		}
		o.httpClient = hc
		return nil
	}
}

// WithUserAgent replaces DefaultUserAgent.
func WithUserAgent(ua string) Option {
	return func(o *options) error {
		o.userAgent = ua
		return nil
	}
}

// WithRetry sets how responses with status 429, 503 and 504 are retried: at most
// maxRetries times (0 disables retries), waiting what the service's Retry-After asks, or else
// an exponential backoff from baseDelay with jitter, never more than maxDelay. The default is
// DefaultMaxRetries, DefaultRetryBaseDelay and DefaultRetryMaxDelay.
//
// A wait is not started when the service asks for more than maxDelay, or when the context's
// deadline would pass before it ends: the call returns the *Error at once, and its RetryAfter
// says how long the service wanted. A context cancelled during a wait ends the call at once
// with an error that matches both ctx.Err() and the *Error (errors.Is, errors.As).
func WithRetry(maxRetries int, baseDelay, maxDelay time.Duration) Option {
	return func(o *options) error {
		if maxRetries < 0 || baseDelay < 0 || maxDelay < baseDelay {
			return fmt.Errorf("client: WithRetry(%d, %v, %v): want maxRetries >= 0 and 0 <= baseDelay <= maxDelay", maxRetries, baseDelay, maxDelay)
		}
		o.retry = retryPolicy{max: maxRetries, baseDelay: baseDelay, maxDelay: maxDelay}
		return nil
	}
}

// WithProfile sets the fidelity profile of the service the client talks to, which decides the
// states Update lets through before any request: ProfileGraph (today's Graph, and
// "remoteassist serve --profile graph") has no StateNotConfigured. The default is
// ProfileDocumented. Answers of either kind (200 with the entity, 204 without) are read whatever
// the profile.
func WithProfile(p remoteassist.Profile) Option {
	return func(o *options) error {
		if _, err := remoteassist.ParseProfile(string(p)); err != nil {
			return fmt.Errorf("client: WithProfile: %w", err)
		}
		o.profile = p
		return nil
	}
}

// New returns a client of the service at baseURL, the Graph base including the version
// segment: "https://graph.microsoft.com/beta", or "http://127.0.0.1:8080/beta" for a local
// remoteassist. Without WithToken or WithTokenSource, requests carry no token and the
// service answers 401. A nil Option is ignored.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("client: base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q: want http:// or https:// and a host, such as http://127.0.0.1:8080/beta", baseURL)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		// The operations' paths are resolved against the base URL: after a query or a fragment
		// they would replace its last segment (/beta) and every call would answer 404.
		return nil, fmt.Errorf("client: base URL %q: want no query or fragment, such as http://127.0.0.1:8080/beta", baseURL)
	}
	o := options{
		userAgent: DefaultUserAgent,
		profile:   remoteassist.ProfileDocumented,
		retry:     retryPolicy{max: DefaultMaxRetries, baseDelay: DefaultRetryBaseDelay, maxDelay: DefaultRetryMaxDelay},
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	switch {
	case o.rootCAs != nil:
		if o.httpClient, err = tlsClient(o.httpClient, o.rootCAs); err != nil {
			return nil, err
		}
	case o.httpClient == nil:
		o.httpClient = &http.Client{Timeout: DefaultTimeout}
	}
	// NewClient, unlike the bare request builders, keeps the base path (/beta): it resolves
	// the operation paths relative to the base URL with a trailing slash.
	api, err := apiclient.NewClientWithResponses(baseURL, apiclient.WithHTTPClient(o.httpClient))
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return &Client{
		api:         api.ClientInterface,
		tokens:      o.tokens,
		refreshable: o.refresh,
		userAgent:   o.userAgent,
		retry:       o.retry,
		profile:     o.profile,
		hc:          o.httpClient,
		sleep:       sleep,
		now:         time.Now,
		jitter:      defaultJitter,
	}, nil
}

// CloseIdleConnections closes the keep-alive connections the client holds and is not using,
// so that a test suite which makes many clients releases their sockets (and a server under
// test can shut down without waiting for them). Calls in progress are not affected, and the
// client stays usable: a later call opens a new connection. With WithHTTPClient it closes
// the idle connections of that client's transport.
func (c *Client) CloseIdleConnections() {
	c.hc.CloseIdleConnections()
}

// Get returns the tenant's settings; the tenant is the one the token belongs to.
func (c *Client) Get(ctx context.Context) (Settings, error) {
	return c.call(ctx, "get", func(ctx context.Context, requestID string, editors ...apiclient.RequestEditorFn) (*http.Response, error) {
		return c.api.DeviceManagementGetRemoteAssistanceSettings(ctx,
			&models.DeviceManagementGetRemoteAssistanceSettingsParams{ClientRequestId: &requestID}, editors...)
	})
}

// Update changes the properties p sets, leaves the others as they are, and returns the
// settings after the change. An empty patch or an invalid state fails before any request
// with ErrEmptyPatch or ErrInvalidState.
//
// Update is safe to retry: applying the same patch twice gives the same settings.
func (c *Client) Update(ctx context.Context, p Patch) (Settings, error) {
	if err := p.ValidateFor(c.profile); err != nil {
		return Settings{}, &patchError{err}
	}
	s, err := c.call(ctx, "update", func(ctx context.Context, requestID string, editors ...apiclient.RequestEditorFn) (*http.Response, error) {
		// The generated method marshals the body afresh on every call, so a retry re-sends it.
		return c.api.DeviceManagementUpdateRemoteAssistanceSettings(ctx,
			&models.DeviceManagementUpdateRemoteAssistanceSettingsParams{ClientRequestId: &requestID}, p.Update(), editors...)
	})
	if errors.Is(err, errNoContent) {
		// Graph's Intune endpoints often answer a PATCH with 204 and no body; read the
		// result back so that callers always get the settings.
		return c.Get(ctx)
	}
	return s, err
}

// errNoContent marks a 204 answer, which carries no settings to return.
var errNoContent = errors.New("client: 204 No Content")

// sendFunc sends one attempt of a call with the given client-request-id and request editors.
type sendFunc func(ctx context.Context, requestID string, editors ...apiclient.RequestEditorFn) (*http.Response, error)

// call runs one logical call: attempts with one client-request-id, one token refresh after a
// 401 when the token source can refresh, and retries of 429, 503 and 504 by the policy.
func (c *Client) call(ctx context.Context, op string, send sendFunc) (Settings, error) {
	requestID := requestid.New() // a version 4 UUID, the form Graph uses for client-request-id
	forceRefresh, refreshed := false, false
	for retries := 0; ; {
		var editors []apiclient.RequestEditorFn
		token, err := c.token(ctx, forceRefresh)
		if err != nil {
			return Settings{}, err
		}
		forceRefresh = false
		editors = append(editors, c.headers(token))

		res, err := send(ctx, requestID, editors...)
		if err != nil {
			return Settings{}, fmt.Errorf("client: %s settings: %w", op, err)
		}
		s, err := c.read(res)
		var apiErr *Error
		if !errors.As(err, &apiErr) {
			return s, err
		}
		apiErr.Retries = retries
		switch {
		case apiErr.StatusCode == http.StatusUnauthorized && c.refreshable && !refreshed:
			// The token may have expired or been revoked since the source cached it. A second
			// 401 with a fresh token is the answer, not a race.
			refreshed, forceRefresh = true, true
			continue
		case retryable(apiErr.StatusCode) && retries < c.retry.max:
			d, ok := c.retry.delay(retries, apiErr.RetryAfter, c.jitter)
			if !ok {
				apiErr.NotRetried = WaitTooLong
				return Settings{}, apiErr
			}
			if deadline, has := ctx.Deadline(); has && c.now().Add(d).After(deadline) {
				// Waiting would only end in a deadline error; the service's answer says more.
				apiErr.NotRetried = WaitPastDeadline
				return Settings{}, apiErr
			}
			if err := c.sleep(ctx, d); err != nil {
				return Settings{}, fmt.Errorf("client: %s settings: %w while waiting to retry after: %w", op, err, apiErr)
			}
			retries++
			continue
		case retryable(apiErr.StatusCode):
			apiErr.NotRetried = RetriesSpent
		}
		return Settings{}, apiErr
	}
}

// token returns the token for the next attempt, "" when the client has no token source.
func (c *Client) token(ctx context.Context, forceRefresh bool) (string, error) {
	if c.tokens == nil {
		return "", nil
	}
	t, err := c.tokens(ctx, forceRefresh)
	if err != nil {
		return "", fmt.Errorf("client: getting a token: %w", err)
	}
	return t, nil
}

// headers returns the editor that sets what every attempt carries besides the
// client-request-id, which the generated code sets from the operation's parameters.
func (c *Client) headers(token string) apiclient.RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set("Accept", "application/json")
		if c.userAgent != "" {
			req.Header.Set("User-Agent", c.userAgent)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return nil
	}
}

// read consumes a response: the settings for a 2xx with the entity, errNoContent for a 204,
// an *Error for any other status.
func (c *Client) read(res *http.Response) (Settings, error) {
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxBody+1))
	if err != nil {
		return Settings{}, fmt.Errorf("client: reading the response: %w", err)
	}
	tooLong := len(body) > maxBody
	body = body[:min(len(body), maxBody)]
	if redirect, method := changedMethod(res); redirect != nil {
		// The answer is to another request than the one made (a GET for a PATCH): passed off
		// as the update's, it would report a change that never happened.
		return Settings{}, fmt.Errorf("client: the service answered the %s with %d and Location %q, which net/http follows with a %s: the %s was not made; give New the base URL the service redirects to",
			method, redirect.StatusCode, redirect.Header.Get("Location"), res.Request.Method, method)
	}
	switch {
	case res.StatusCode == http.StatusNoContent:
		return Settings{}, errNoContent
	case res.StatusCode < 200 || res.StatusCode > 299:
		return Settings{}, newError(res, body, c.now())
	}
	if tooLong {
		return Settings{}, fmt.Errorf("client: the service answered %d with a body over %d bytes, not settings: %s",
			res.StatusCode, maxBody, bodySnippet(body))
	}
	if mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); mt != "application/json" {
		return Settings{}, fmt.Errorf("client: the service answered %d with Content-Type %q, not JSON settings: %s",
			res.StatusCode, res.Header.Get("Content-Type"), bodySnippet(body))
	}
	var w remoteassist.Entity
	if err := json.Unmarshal(body, &w); err != nil {
		return Settings{}, fmt.Errorf("client: decoding the settings: %w", err)
	}
	if w.Id == "" {
		return Settings{}, fmt.Errorf("client: the service answered %d without settings: %s", res.StatusCode, bodySnippet(body))
	}
	return remoteassist.SettingsFromEntity(&w), nil
}

// changedMethod finds the redirect after which net/http sent the call again with another method,
// and the method it had: a 301, 302 or 303 answer to a PATCH is followed with a GET (RFC 9110
// §15.4.2-4 allows it), while a 307 or 308 keeps the method and the body.
func changedMethod(res *http.Response) (redirect *http.Response, method string) {
	for req := res.Request; req != nil && req.Response != nil && req.Response.Request != nil; req = req.Response.Request {
		if prev := req.Response.Request; prev.Method != req.Method {
			return req.Response, prev.Method
		}
	}
	return nil, ""
}
