package sqlite

import "errors"

// MaxRecord bounds the data of one record.
const MaxRecord = 1 << 20

var errRecordTooBig = errors.New("record over the 1 MiB limit")

// SaveRecord keeps data under (kind, id), replacing what was there. It is
// for what other parts of Parlance keep beside the messages, such as the
// state of file transfers.
func (s *Store) SaveRecord(kind, id string, data []byte) error {
	if len(data) > MaxRecord {
		return fileError("save a record to", s.path, errRecordTooBig)
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	return s.write("save a record to", func() error {
		_, err := s.exec(`INSERT OR REPLACE INTO main.records (kind, id, data) VALUES (?, ?, ?)`, kind, id, string(data))
		return err
	})
}

// Records returns the data of every record of kind, by id.
func (s *Store) Records(kind string) ([][]byte, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	rows, err := s.query(`SELECT data FROM main.records WHERE kind = ? ORDER BY id`, kind)
	if err != nil {
		return nil, fileError("read records from", s.path, err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, fileError("read records from", s.path, err)
		}
		out = append(out, []byte(d))
	}
	return out, fileError("read records from", s.path, rows.Err())
}
