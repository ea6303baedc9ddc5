// Command readme is the program of the README's "Use it from Go", kept compiling by go vet ./...
// and identical to the README by client.TestREADMEShowsUseFromGo.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/remoteassist/remoteassist/client"
)

func main() {
	// The Graph base URL, /beta included: a local "remoteassist serve", or
	// https://graph.microsoft.com/beta with a token from your identity provider.
	c, err := client.New("http://127.0.0.1:8080/beta", client.WithToken(os.Getenv("REMOTEASSIST_TOKEN")))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	s, err := c.Get(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("state:", s.RemoteAssistanceState, "block chat:", s.BlockChat)

	// Only the properties set in the patch are sent; the others keep their values.
	s, err = c.Update(ctx, client.Patch{
		RemoteAssistanceState: client.Ptr(client.StateEnabled),
		BlockChat:             client.Ptr(true),
	})
	var graphErr *client.Error
	switch {
	case client.IsForbidden(err):
		log.Fatal("the token may read but not write: ", err)
	case errors.As(err, &graphErr):
		log.Fatalf("%s: %s (request-id %s)", graphErr.Code, graphErr.Message, graphErr.RequestID)
	case err != nil:
		log.Fatal(err)
	}
	fmt.Println("now:", s.RemoteAssistanceState, "block chat:", s.BlockChat)
}
