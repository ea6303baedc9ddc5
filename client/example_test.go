package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"

	"github.com/remoteassist/remoteassist/client"
	"github.com/remoteassist/remoteassist/remoteassisttest"
)

// These examples run against an emulator in this process; against a real deployment, the
// URL is "http://HOST:PORT/beta" or "https://graph.microsoft.com/beta" and the token comes
// from your identity provider.

func ExampleNew() {
	srv, err := remoteassisttest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	c, err := client.New(srv.URL(), client.WithToken(srv.Token("contoso")))
	if err != nil {
		log.Fatal(err)
	}
	s, err := c.Get(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("state:", s.RemoteAssistanceState)
	fmt.Println("allow unenrolled:", s.AllowSessionsToUnenrolledDevices)
	fmt.Println("block chat:", s.BlockChat)
	// Output:
	// state: notConfigured
	// allow unenrolled: false
	// block chat: false
}

func ExampleClient_Update() {
	srv, err := remoteassisttest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	c, err := client.New(srv.URL(), client.WithToken(srv.Token("contoso")))
	if err != nil {
		log.Fatal(err)
	}

	// Only the properties set in the patch are sent; the others keep their values.
	s, err := c.Update(context.Background(), client.Patch{
		RemoteAssistanceState: client.Ptr(client.StateEnabled),
		BlockChat:             client.Ptr(true),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s, block chat %t, allow unenrolled %t\n",
		s.RemoteAssistanceState, s.BlockChat, s.AllowSessionsToUnenrolledDevices)
	// Output:
	// enabled, block chat true, allow unenrolled false
}

func ExampleClient_Update_validation() {
	// Port 1 of loopback, where nothing listens: were a request sent, it would fail, and change
	// the output, without reaching anyone's server.
	c, err := client.New("http://127.0.0.1:1/beta", client.WithToken("unused"))
	if err != nil {
		log.Fatal(err)
	}
	// Both fail before any request is sent.
	_, err = c.Update(context.Background(), client.Patch{})
	fmt.Println(errors.Is(err, client.ErrEmptyPatch))
	_, err = c.Update(context.Background(), client.Patch{RemoteAssistanceState: client.Ptr(client.State("on"))})
	fmt.Println(err)
	// Output:
	// true
	// client: Invalid value for property 'remoteAssistanceState': "on". Allowed values: notConfigured, disabled, enabled.
}

func ExampleError() {
	srv, err := remoteassisttest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	// A token that may read but not write.
	readOnly := srv.Token("contoso", remoteassisttest.PermissionRead)
	c, err := client.New(srv.URL(), client.WithToken(readOnly))
	if err != nil {
		log.Fatal(err)
	}

	_, err = c.Update(context.Background(), client.Patch{BlockChat: client.Ptr(true)})
	var e *client.Error
	if errors.As(err, &e) {
		// e.RequestID identifies the request in the service's logs.
		fmt.Println(e.StatusCode, e.Code, client.IsForbidden(err))
	}
	// Output:
	// 403 Forbidden true
}

func ExampleWithTokenSource() {
	srv, err := remoteassisttest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	// A source that caches its token and fetches a new one when asked to refresh, as one
	// built on an OAuth library would. This one starts with a token the service refuses.
	var (
		mu     sync.Mutex
		cached = "expired-token"
	)
	tokens := func(ctx context.Context, forceRefresh bool) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if forceRefresh {
			fmt.Println("refreshing the token")
			cached = srv.Token("contoso")
		}
		return cached, nil
	}

	c, err := client.New(srv.URL(), client.WithTokenSource(tokens))
	if err != nil {
		log.Fatal(err)
	}
	s, err := c.Get(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.RemoteAssistanceState)
	// Output:
	// refreshing the token
	// notConfigured
}
