package remoteassisttest_test

import (
	"context"
	"fmt"
	"log"

	"github.com/remoteassist/remoteassist/client"
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
