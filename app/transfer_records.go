package app

import (
	"encoding/json"
	"fmt"

	"github.com/parlance-chat/parlance/net/filexfer"
)

// RecordStore keeps records of other kinds beside the messages (the
// SQLite store does).
type RecordStore interface {
	SaveRecord(kind, id string, data []byte) error
	Records(kind string) ([][]byte, error)
}

// transferKind is the record kind of file transfers.
const transferKind = "transfer"

// TransferStore keeps the file-transfer engine's records in a RecordStore,
// one JSON record a transfer, so that transfers resume from the database
// after a restart.
func TransferStore(rs RecordStore) filexfer.Store { return transferRecords{rs} }

type transferRecords struct{ rs RecordStore }

// Load implements filexfer.Store.
func (t transferRecords) Load() ([]filexfer.Record, error) {
	all, err := t.rs.Records(transferKind)
	if err != nil {
		return nil, fmt.Errorf("read transfer records: %w", err)
	}
	out := make([]filexfer.Record, 0, len(all))
	for _, d := range all {
		var r filexfer.Record
		if err := json.Unmarshal(d, &r); err != nil {
			return nil, fmt.Errorf("read transfer records: a record is corrupt: %w", err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Save implements filexfer.Store.
func (t transferRecords) Save(r filexfer.Record) error {
	d, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode the transfer record: %w", err)
	}
	if err := t.rs.SaveRecord(transferKind, r.ID, d); err != nil {
		return fmt.Errorf("save the transfer record: %w", err)
	}
	return nil
}
