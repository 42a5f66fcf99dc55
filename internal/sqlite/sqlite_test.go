package sqlite_test

import (
	"path/filepath"
	"testing"

	"fibremon/internal/sqlite"
	"fibremon/internal/testing/storetest"
)

func TestConformance(t *testing.T) {
	open := func(t *testing.T, path string) *sqlite.Store {
		t.Helper()
		s, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	storetest.Run(t,
		func(t *testing.T) storetest.Store {
			return open(t, filepath.Join(t.TempDir(), "fibremon.db"))
		},
		func(t *testing.T, s storetest.Store) storetest.Store {
			st := s.(*sqlite.Store)
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			return open(t, st.Path())
		})
}
