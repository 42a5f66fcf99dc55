package ndt7_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no goroutine outlives the tests: every handler,
// reader, writer and timer goroutine must have ended.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
