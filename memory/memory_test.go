package memory_test

import (
	"testing"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/memory"
	"github.com/remoteassist/remoteassist/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) remoteassist.Store { return memory.New() })
}
