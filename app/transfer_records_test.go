package app

import (
	"path/filepath"
	"testing"

	"github.com/parlance-chat/parlance/app/store/sqlite"
	"github.com/parlance-chat/parlance/net/filexfer"
)

// TestTransferStoreInTheDatabase: transfer records saved through the
// database are loaded back after it is opened again, the newest of each.
func TestTransferStoreInTheDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parlance.db")
	db, err := sqlite.Open(path, sqlite.Options{History: true})
	if err != nil {
		t.Fatal(err)
	}
	ts := TransferStore(db)
	for _, r := range []filexfer.Record{
		{ID: "t1", Peer: "P", Name: "a.txt", Size: 10},
		{ID: "t2", Peer: "P", Name: "b.txt", Size: 20},
		{ID: "t1", Peer: "P", Name: "a.txt", Size: 10, Offset: 10, HashState: []byte{1, 2, 3}},
	} {
		if err := ts.Save(r); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	db, err = sqlite.Open(path, sqlite.Options{History: false})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	recs, err := TransferStore(db).Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].ID != "t1" || recs[0].Offset != 10 || len(recs[0].HashState) != 3 || recs[1].Name != "b.txt" {
		t.Fatalf("records %+v", recs)
	}
}
