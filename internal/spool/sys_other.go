//go:build !unix

package spool

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

// lockDir fails: without flock and directory fsync the package cannot keep
// its promises.
func lockDir(path string) (*os.File, error) {
	return nil, fmt.Errorf("spool on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

func syncDir(dir string) error { return errors.ErrUnsupported }

func isFull(err error) bool { return false }
