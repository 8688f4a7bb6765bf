package wire

import (
	"encoding/json"
	"testing"
)

var benchLine = []byte(`{"from":"alice","content":"` + "a hundred bytes of text, more or less, as the messaging benchmark sends: lorem ipsum dolor sit amet" + `","timestamp":1699123456,"id":"0123456789abcdef0123456789abcdef"}` + "\n")

// BenchmarkParseMessage: ParseMessage (strict keys) against decoding the
// same line with encoding/json into a struct, as the parser did before
// (the baseline, same run).
func BenchmarkParseMessage(b *testing.B) {
	b.Run("strict", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseMessage(benchLine); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var raw struct {
				From      *string `json:"from"`
				Content   *string `json:"content"`
				Timestamp *int64  `json:"timestamp"`
				ID        string  `json:"id"`
			}
			if err := json.Unmarshal(benchLine, &raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
