package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// The original reads its JSON with serde, which matches field names
// exactly and refuses a known field given twice; encoding/json matches
// names case-insensitively and keeps the last of duplicates. So
// {"from":"x","from":"alice"} and {"FROM":"x",...} would read differently
// here than in the original. The parsers of peer messages and LAN
// datagrams therefore walk the top-level members themselves (eachMember)
// and take only the exact names they know, each at most once.

// errNotObject is returned for JSON that is not an object.
var errNotObject = errors.New("not a JSON object")

// eachMember calls f with the key (unescaped) and the raw value of every
// top-level member of the JSON object b, in order. b must be one valid
// JSON object, surrounding white space allowed.
func eachMember(b []byte, f func(key string, val []byte) error) error {
	if !json.Valid(b) {
		return errors.New("not valid JSON")
	}
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errNotObject
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil
	}
	for i < len(b) {
		end := skipString(b, i)
		key, err := jsonString(b[i:end])
		if err != nil {
			return err
		}
		i = skipSpace(b, end)
		i = skipSpace(b, i+1) // the colon
		start := i
		i = skipValue(b, i)
		if err := f(key, b[start:i]); err != nil {
			return err
		}
		i = skipSpace(b, i)
		if i < len(b) && b[i] == '}' {
			return nil
		}
		i = skipSpace(b, i+1) // the comma
	}
	return errNotObject
}

// The skip functions walk JSON already checked by json.Valid.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++
	}
	return i
}

// jsonString decodes a raw JSON string value; anything else (null
// included) is an error.
func jsonString(raw []byte) (string, error) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", fmt.Errorf("want a string, got %.20s", raw)
	}
	inner := raw[1 : len(raw)-1]
	plain := true
	for _, c := range inner {
		if c == '\\' || c < 0x20 {
			plain = false
			break
		}
	}
	if plain && utf8.Valid(inner) {
		return string(inner), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	return s, nil
}

// stringInto is a field's set that decodes a string into *dst.
func stringInto(dst *string) func([]byte) error {
	return func(v []byte) (err error) { *dst, err = jsonString(v); return err }
}

// jsonInt decodes a raw JSON integer that fits in bits bits; a float, a
// string or null is an error, as in the original.
func jsonInt(raw []byte, bits int) (int64, error) {
	n, err := strconv.ParseInt(string(raw), 10, bits)
	if err != nil {
		return 0, fmt.Errorf("want an integer, got %.20s", raw)
	}
	return n, nil
}

// field is a member an object parser knows: its exact name, and what to
// do with its raw value. With nullable, a null value is taken as absent
// (an optional extension).
type field struct {
	name     string
	nullable bool
	set      func(val []byte) error
}

// decodeObject walks the top-level members of the JSON object b and gives
// each known field's value to its set; a known field given twice is an
// error, other members are ignored. Bit i of present says fields[i] was
// given (and not null, if nullable).
func decodeObject(b []byte, fields []field) (present uint64, err error) {
	var seen uint64
	err = eachMember(b, func(key string, val []byte) error {
		for i, f := range fields {
			if f.name != key { // exact names only, like the original
				continue
			}
			if seen&(1<<i) != 0 {
				return fmt.Errorf("duplicate field %q", key)
			}
			seen |= 1 << i
			if f.nullable && string(val) == "null" {
				return nil
			}
			present |= 1 << i
			if err := f.set(val); err != nil {
				return fmt.Errorf("field %s: %w", key, err)
			}
			return nil
		}
		return nil
	})
	return present, err
}
