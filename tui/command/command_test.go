package command

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Command
		wantErr string
	}{
		{"hello there", Command{Kind: Text, Text: "hello there"}, ""},
		{"//not a command", Command{Kind: Text, Text: "/not a command"}, ""},
		{"   ", Command{}, "nothing to send"},
		{"/peers", Command{Kind: Peers}, ""},
		{"/send bob hi there", Command{Kind: Send, Target: "bob", Text: "hi there"}, ""},
		{"/send  bob   spaced  text", Command{Kind: Send, Target: "bob", Text: "spaced  text"}, ""},
		{"/send bob", Command{}, "usage: /send <nick> <message>"},
		{"/send", Command{}, "usage: /send"},
		{"/msg alice#ABC", Command{Kind: Select, Target: "alice#ABC"}, ""},
		{"/query alice", Command{Kind: Select, Target: "alice"}, ""},
		{"/msg", Command{}, "usage: /msg <nick>"},
		{"/nick new name", Command{Kind: Nick, Target: "new name"}, ""},
		{"/nick", Command{}, "usage: /nick"},
		{"/clear", Command{Kind: Clear}, ""},
		{"/me waves hello", Command{Kind: Me, Text: "waves hello"}, ""},
		{"/me", Command{}, "usage: /me <action>"},
		{"/ignore", Command{Kind: Ignore}, ""},
		{"/ignore bob", Command{Kind: Ignore, Target: "bob"}, ""},
		{`/unignore "Mary Ann"`, Command{Kind: Unignore, Target: "Mary Ann"}, ""},
		{"/unignore", Command{}, "usage: /unignore <nick>"},
		{"/close", Command{Kind: Close}, ""},
		{"/wait bob", Command{Kind: Wait, Target: "bob"}, ""},
		{"hello\nsecond line", Command{Kind: Text, Text: "hello\nsecond line"}, ""},
		{"/help", Command{Kind: Help}, ""},
		{"/h", Command{Kind: Help}, ""},
		{"/quit", Command{Kind: Quit}, ""},
		{"/exit", Command{Kind: Quit}, ""},
		{"/q", Command{Kind: Quit}, ""},
		{"/QUIT", Command{Kind: Quit}, ""},
		{"/id", Command{Kind: ID}, ""},
		{"/whois bob", Command{Kind: Whois, Target: "bob"}, ""},
		{"/verify bob", Command{Kind: Verify, Target: "bob"}, ""},
		{"/verify bob confirm", Command{Kind: Verify, Target: "bob", Confirm: true}, ""},
		{"/verify bob yes", Command{Kind: Verify, Target: "bob yes"}, ""}, // nicknames may hold spaces
		{`/send "Mary Ann" see you`, Command{Kind: Send, Target: "Mary Ann", Text: "see you"}, ""},
		{`/send "Mary Ann"`, Command{}, "usage: /send"},
		{`/send "Mary Ann see you`, Command{}, "missing closing"},
		{`/send "" x`, Command{}, "empty nickname"},
		{`/msg "Mary Ann"`, Command{Kind: Select, Target: "Mary Ann"}, ""},
		{`/whois Mary Ann`, Command{Kind: Whois, Target: "Mary Ann"}, ""},
		{`/verify Mary Ann`, Command{Kind: Verify, Target: "Mary Ann"}, ""},
		{`/verify Mary Ann confirm`, Command{Kind: Verify, Target: "Mary Ann", Confirm: true}, ""},
		{`/verify "Mary Ann" confirm`, Command{Kind: Verify, Target: "Mary Ann", Confirm: true}, ""},
		{`/verify "Mary Ann" yes`, Command{}, "usage: /verify"},
		{"/group new #team bob carol", Command{Kind: Group, Sub: GroupNew, Group: "team", Nicks: []string{"bob", "carol"}}, ""},
		{`/group new #team "Mary Ann" bob`, Command{Kind: Group, Sub: GroupNew, Group: "team", Nicks: []string{"Mary Ann", "bob"}}, ""},
		{"/group new team", Command{Kind: Group, Sub: GroupNew, Group: "team"}, ""},
		{"/group invite #team Mary Ann", Command{Kind: Group, Sub: GroupInvite, Group: "team", Nicks: []string{"Mary Ann"}}, ""},
		{"/group kick #team bob", Command{Kind: Group, Sub: GroupKick, Group: "team", Nicks: []string{"bob"}}, ""},
		{"/group promote #team bob", Command{Kind: Group, Sub: GroupPromote, Group: "team", Nicks: []string{"bob"}}, ""},
		{"/group rename #team #crew", Command{Kind: Group, Sub: GroupRename, Group: "team", Text: "crew"}, ""},
		{"/group rename #team", Command{}, "usage: /group rename #name <new name>"},
		{"/group promote #team", Command{}, "usage: /group promote #name <nick>"},
		{"/group kick #team", Command{}, "usage: /group kick #name <nick>"},
		{"/group leave #team", Command{Kind: Group, Sub: GroupLeave, Group: "team"}, ""},
		{"/group members #team", Command{Kind: Group, Sub: GroupMembers, Group: "team"}, ""},
		{"/group JOIN #team", Command{Kind: Group, Sub: GroupJoin, Group: "team"}, ""},
		{"/group join #team now", Command{}, "usage: /group join #name"},
		{"/group rename", Command{}, "usage: /group <op> #name"},
		{"/group bless #team", Command{}, "/group bless: unknown"},
		{"/group leave", Command{}, "usage: /group"},
		{"/group new #", Command{}, "usage: /group new #name"},
		{"/groups", Command{Kind: Groups}, ""},
		{"/send #team hi all", Command{Kind: Send, Target: "#team", Text: "hi all"}, ""},
		{"/frobnicate", Command{}, "/frobnicate: unknown command; /help lists them"},
		{"/", Command{}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			got.rest = ""
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestPreferKnownTarget(t *testing.T) {
	known := func(n string) bool { return n == "Mary" || n == "Mary Ann" || n == "Mary Ann Lee" }
	tests := []struct{ in, target, text string }{
		{"/send Mary Ann see you", "Mary Ann", "see you"},
		{"/send Mary hi", "Mary", "hi"},
		{"/send Mary Ann Lee x", "Mary Ann Lee", "x"},
		{"/send Mary Ann", "Mary", "Ann"}, // leaves text
		{"/send Bob Ann hi", "Bob", "Ann hi"},
		{`/send "Mary" Ann Lee x`, "Mary", "Ann Lee x"},
	}
	for _, tt := range tests {
		c, err := Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		c.PreferKnownTarget(known)
		if c.Target != tt.target || c.Text != tt.text {
			t.Errorf("%s: target %q text %q; want %q %q", tt.in, c.Target, c.Text, tt.target, tt.text)
		}
	}
}

func TestComplete(t *testing.T) {
	nicks := []string{"alice", "Alex", "bob", "Mary Ann"}
	tests := []struct {
		line string
		want []string
	}{
		{"/he", []string{"/help "}},
		{"/q", []string{"/query ", "/quit "}},
		{"/send al", []string{"/send alice ", "/send Alex "}},
		{"b", []string{"bob "}},
		{"/send Ma", []string{`/send "Mary Ann" `}},
		{"hello ", nil},
		{"/zz", nil},
		{"/msg ", []string{"/msg alice ", "/msg Alex ", "/msg bob ", `/msg "Mary Ann" `}},
		{"/ignore ", []string{"/ignore alice ", "/ignore Alex ", "/ignore bob ", `/ignore "Mary Ann" `}},
		{"/nick ", nil},
		{"/me ", nil},
	}
	for _, tt := range tests {
		if got := Complete(tt.line, nicks); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Complete(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"hi", "/send a b", "/verify x confirm", "//x", "/", "/msg \x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err == nil && c.Kind == Text && strings.TrimSpace(c.Text) == "" {
			t.Fatalf("Parse(%q) gave empty text", s)
		}
		_ = Complete(s, []string{"a", "b"})
	})
}

func TestAction(t *testing.T) {
	if a, ok := IsAction(Action("waves")); !ok || a != "waves" {
		t.Fatalf("IsAction(Action(waves)) = %q, %v", a, ok)
	}
	if _, ok := IsAction("/meh"); ok {
		t.Fatal("/meh is an action")
	}
}
