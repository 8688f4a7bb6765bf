package command

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseFileCommands(t *testing.T) {
	tests := []struct {
		in      string
		want    Command
		wantErr string
	}{
		{"/sendfile bob ~/photo.jpg", Command{Kind: SendFile, Target: "bob", Text: "~/photo.jpg"}, ""},
		{"/sendfile bob  my holiday photo.jpg ", Command{Kind: SendFile, Target: "bob", Text: "my holiday photo.jpg"}, ""},
		{`/sendfile "Mary Ann" /tmp/a b`, Command{Kind: SendFile, Target: "Mary Ann", Text: "/tmp/a b"}, ""},
		{"/sendfile bob", Command{}, "usage: /sendfile <nick> <path>"},
		{`/sendfile "Mary Ann"`, Command{}, "usage: /sendfile"},
		{"/sendfile #team ~/plan.pdf", Command{Kind: SendFile, Target: "#team", Text: "~/plan.pdf"}, ""},
		{"/accept", Command{Kind: Accept}, ""},
		{"/accept 1a2b3c4d", Command{Kind: Accept, Target: "1a2b3c4d"}, ""},
		{"/accept 1a 2b", Command{}, "usage: /accept [id]"},
		{"/reject", Command{Kind: Reject}, ""},
		{"/reject 1a2b", Command{Kind: Reject, Target: "1a2b"}, ""},
		{"/transfers", Command{Kind: Transfers}, ""},
		{"/cancel 1a2b", Command{Kind: Cancel, Target: "1a2b"}, ""},
		{"/cancel", Command{}, "usage: /cancel <id>"},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse(%q) error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestCompletePath(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"photo.jpg", "photos/", "notes.txt", ".hidden"} {
		p := filepath.Join(dir, f)
		if strings.HasSuffix(f, "/") {
			if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		line   string
		want   []string
		wantOK bool
	}{
		{"/sendfile bob " + dir + "/pho", []string{"/sendfile bob " + dir + "/photo.jpg", "/sendfile bob " + dir + "/photos/"}, true},
		{"/sendfile bob " + dir + "/", []string{"/sendfile bob " + dir + "/notes.txt", "/sendfile bob " + dir + "/photo.jpg", "/sendfile bob " + dir + "/photos/"}, true},
		{"/sendfile bob " + dir + "/.h", []string{"/sendfile bob " + dir + "/.hidden"}, true},
		{`/sendfile "Mary Ann" ` + dir + "/n", []string{`/sendfile "Mary Ann" ` + dir + "/notes.txt"}, true},
		{"/sendfile bob " + dir + "/zz", nil, true},
		{"/sendfile bo", nil, false},
		{"/send bob " + dir + "/pho", nil, false},
		{"hello " + dir, nil, false},
	}
	for _, tt := range tests {
		got, ok := CompletePath(tt.line, os.ReadDir)
		if ok != tt.wantOK || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("CompletePath(%q) = %q, %v; want %q, %v", tt.line, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestCompletePathHome(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	if err := os.WriteFile(filepath.Join(home, "report.pdf"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	got, ok := CompletePath("/sendfile bob ~/re", os.ReadDir)
	if want := []string{"/sendfile bob ~/report.pdf"}; !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, %v; want %q", got, ok, want)
	}
}
