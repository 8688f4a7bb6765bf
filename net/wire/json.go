package wire

import (
	"bytes"
	"encoding/json"
)

// marshalJSON encodes v as compact JSON with no trailing newline. Like the
// original's serde_json it leaves <, > and & as they are: escaping them
// (encoding/json's default) changes nothing for a JSON reader but makes a
// message with many of them up to six times longer on the wire.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
