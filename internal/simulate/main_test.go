package simulate

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind: Publish
// starts none, and the embedded server and its clients must be shut down.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
