package sqlite

import (
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/parlance-chat/parlance/app/store"
	"github.com/parlance-chat/parlance/app/store/storetest"
)

func TestMain(m *testing.M) {
	if helperMain() {
		return
	}
	goleak.VerifyTestMain(m)
}

// openTemp opens a store in a new file of t's temp directory, closed when
// the test ends.
func openTemp(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "parlance.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	for _, history := range []bool{true, false} {
		name := map[bool]string{true: "HistoryOn", false: "HistoryOff"}[history]
		t.Run(name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t, Options{History: history}) })
		})
	}
}
