package remoteassisttest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"strings"

	"github.com/remoteassist/remoteassist/client"
	"github.com/remoteassist/remoteassist/control"
	"github.com/remoteassist/remoteassist/gen/admin/models"
	"github.com/remoteassist/remoteassist/remoteassisttest"
)

// Start serves outside a test: here in an example; in TestMain it lets a package's tests
// share one emulator.
func ExampleStart() {
	srv, err := remoteassisttest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	srv.Seed("contoso", client.Settings{RemoteAssistanceState: client.StateDisabled})
	s, err := srv.Client("contoso").Update(context.Background(), client.Patch{BlockChat: client.Ptr(true)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.RemoteAssistanceState, s.BlockChat)
	fmt.Println(srv.Settings("contoso").BlockChat)
	// Output:
	// disabled true
	// true
}

// WithControl adds the test control plane: here a fault rule makes the next PATCH of contoso
// Graph's 429, and the journal and its findings show what the client did about it.
func ExampleWithControl() {
	srv, err := remoteassisttest.Start(remoteassisttest.WithControl())
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	tenant, once, after := "contoso", 1, 3600
	status := models.FaultEffectStatusN429
	if _, err := srv.Control().AddFault(models.FaultRuleSpec{
		Match:  &models.FaultMatch{Tenant: &tenant},
		Effect: models.FaultEffect{Status: &status, RetryAfter: &after},
		Times:  &once,
	}); err != nil {
		log.Fatal(err)
	}

	// Code under test that retries at once instead of waiting what Retry-After asks.
	c := srv.Client(tenant, client.WithRetry(0, 0, 0))
	patch := client.Patch{BlockChat: client.Ptr(true)}
	_, err = c.Update(context.Background(), patch)
	fmt.Println("first:", client.IsThrottled(err))
	_, err = c.Update(context.Background(), patch)
	fmt.Println("again:", err)

	for _, e := range srv.Control().Journal(control.Filter{Tenant: &tenant}, 0) {
		fmt.Println(e.Method, e.Status)
	}
	for _, f := range srv.Control().Findings(control.Filter{}) {
		fmt.Println(f.Kind)
	}
	// Output:
	// first: true
	// again: <nil>
	// PATCH 429
	// PATCH 200
	// retriedBeforeRetryAfter
}

// AdminURL serves the admin API over HTTP, for code under test (in any language) that seeds
// state or injects faults itself.
func ExampleServer_AdminURL() {
	srv, err := remoteassisttest.Start(remoteassisttest.WithControl())
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	call := func(method, path, body string) *http.Response {
		req, _ := http.NewRequest(method, srv.AdminURL()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+srv.AdminToken())
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		return res
	}
	res := call(http.MethodPut, "/admin/tenants/contoso/settings", `{"remoteAssistanceState":"enabled"}`)
	res.Body.Close()
	fmt.Println("seed:", res.StatusCode, srv.Settings("contoso").RemoteAssistanceState)

	res = call(http.MethodPost, "/admin/faults", `{"effect":{"status":503,"omitRetryAfter":true},"times":1}`)
	res.Body.Close()
	_, err = srv.Client("contoso", client.WithRetry(0, 0, 0)).Get(context.Background())
	fmt.Println("GET:", client.IsUnavailable(err))

	res = call(http.MethodGet, "/admin/journal/count?tenant=contoso&status=503", "")
	var count struct{ Count int }
	json.NewDecoder(res.Body).Decode(&count)
	res.Body.Close()
	fmt.Println("503s:", count.Count)
	// Output:
	// seed: 200 enabled
	// GET: true
	// 503s: 1
}
