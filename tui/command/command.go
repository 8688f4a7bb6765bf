// Package command parses what a user types into the input line: a chat
// message or a slash command. The TUI and the line-mode REPL share it, so
// both understand the same commands and print the same help.
package command

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind is what a line asks for.
type Kind int

const (
	Text     Kind = iota // a chat message to the selected peer
	Peers                // /peers
	Send                 // /send <nick> <message>
	Select               // /msg <nick>, /query <nick>
	Nick                 // /nick <name>
	Clear                // /clear
	Help                 // /help, /h
	Quit                 // /quit, /exit, /q
	ID                   // /id
	Whois                // /whois <nick>
	Verify               // /verify <nick> [confirm]
	Outbox               // /outbox
	History              // /history <nick> [N]
	Search               // /search <text>
	Resend               // /resend [nick]
	Me                   // /me <action>
	Ignore               // /ignore [nick]
	Unignore             // /unignore <nick>
	Close                // /close [nick]
	Wait                 // /wait <nick>
	Group                // /group new|invite|kick|promote|rename|leave|members|join #name [nick...|new name]
	Groups               // /groups
)

// Group subcommands (Command.Sub).
const (
	GroupNew     = "new"
	GroupInvite  = "invite"
	GroupKick    = "kick"
	GroupLeave   = "leave"
	GroupMembers = "members"
	GroupJoin    = "join"
	GroupPromote = "promote"
	GroupRename  = "rename"
)

// IsGroupTarget reports whether a /send target names a group ("#team").
func IsGroupTarget(target string) bool { return strings.HasPrefix(target, "#") && len(target) > 1 }

// Command is one parsed input line.
type Command struct {
	Kind Kind
	// Target is the peer (nickname, or nickname#tag) or, for Nick, the new
	// nickname.
	Target string
	// Text is the message to send (Text, Send and Me: the action).
	Text string
	// Confirm is set by "/verify <nick> confirm".
	Confirm bool
	// Count is N of "/history <nick> [N]" (0: the default).
	Count int
	// Sub is the /group subcommand, Group the group's name (without "#")
	// and Nicks the peers it names (one for invite and kick).
	Sub   string
	Group string
	Nicks []string

	// rest is what followed "/send " unsplit, when the target was not
	// quoted: see PreferKnownTarget.
	rest string
}

// Spec describes one command for help and completion.
type Spec struct {
	Name    string
	Aliases []string
	Args    string
	Help    string
	// UIs the command exists in: "" both, "tui" the full-screen UI only,
	// "line" the line mode only.
	Only string
	kind Kind
	// minArgs is how many words must follow the command.
	minArgs int
}

// Specs lists every command in the order help shows them.
var Specs = []Spec{
	{Name: "peers", Help: "list known peers", kind: Peers},
	{Name: "send", Args: "<nick> <message>", Help: "send a message without changing the selection", kind: Send, minArgs: 2},
	{Name: "msg", Aliases: []string{"query"}, Args: "<nick>", Help: "open the conversation with a peer (line mode: plain lines go to it)", kind: Select, minArgs: 1},
	{Name: "me", Args: "<action>", Help: "send an action: /me waves shows as * you waves", kind: Me, minArgs: 1},
	{Name: "nick", Args: "<name>", Help: "change your nickname (announced at once)", kind: Nick, minArgs: 1},
	{Name: "id", Help: "show your own peer ID", kind: ID},
	{Name: "whois", Args: "<nick>", Help: "show a peer's full ID, address and trust", kind: Whois, minArgs: 1},
	{Name: "verify", Args: "<nick> [confirm]", Help: "show the safety code to compare; confirm marks the peer verified", kind: Verify, minArgs: 1},
	{Name: "outbox", Help: "list messages waiting for their peer", kind: Outbox},
	{Name: "history", Args: "<nick> [N]", Help: "print the last N stored messages with a peer (default 20)", kind: History, minArgs: 1},
	{Name: "search", Args: "<text>", Help: "search all history", kind: Search, minArgs: 1},
	{Name: "resend", Args: "[nick]", Help: "send failed messages again (to nick, or all)", kind: Resend},
	{Name: "group", Args: "<op> #name …", Help: "groups: new #name [nick...] makes one; invite|kick|promote #name <nick> and rename #name <new> (admins); leave, members or join #name", kind: Group, minArgs: 2},
	{Name: "groups", Help: "list your groups and invitations", kind: Groups},
	{Name: "clear", Help: "clear the conversation on screen", kind: Clear, Only: "tui"},
	{Name: "close", Args: "[nick]", Help: "remove a conversation from the list until it has news (its history is kept)", kind: Close, Only: "tui"},
	{Name: "ignore", Args: "[nick]", Help: "drop a peer's messages (counted); alone: list who is ignored", kind: Ignore},
	{Name: "unignore", Args: "<nick>", Help: "show a peer's messages again", kind: Unignore, minArgs: 1},
	{Name: "sendfile", Args: "<nick> <path>", Help: "offer a file; to #group: to each member (~ is your home; Tab completes paths)", kind: SendFile, minArgs: 2},
	{Name: "accept", Args: "[id]", Help: "download a file offered to you (the only offer waiting, or the one with that id)", kind: Accept},
	{Name: "reject", Args: "[id]", Help: "decline a file offered to you", kind: Reject},
	{Name: "transfers", Help: "list file transfers, active and past", kind: Transfers},
	{Name: "cancel", Args: "<id>", Help: "stop a file transfer, either direction", kind: Cancel, minArgs: 1},
	{Name: "wait", Args: "<nick>", Help: "wait until a peer is online (for scripts)", kind: Wait, minArgs: 1, Only: "line"},
	{Name: "help", Aliases: []string{"h"}, Help: "show commands and keys", kind: Help},
	{Name: "quit", Aliases: []string{"exit", "q"}, Help: "say goodbye and quit", kind: Quit},
}

// Usage is the one-line usage of a spec, e.g. "/send <nick> <message>".
func (s Spec) Usage() string {
	if s.Args == "" {
		return "/" + s.Name
	}
	return "/" + s.Name + " " + s.Args
}

// Lookup finds the spec for a command name or alias (without the slash).
func Lookup(name string) (Spec, bool) {
	name = strings.ToLower(name)
	for _, s := range Specs {
		if s.Name == name {
			return s, true
		}
		for _, a := range s.Aliases {
			if a == name {
				return s, true
			}
		}
	}
	return Spec{}, false
}

// Parse turns one input line into a Command. A line not starting with "/"
// is Text; "//" at the start sends a literal "/". Errors are one line, fit
// to show the user as they are.
func Parse(line string) (Command, error) {
	line = strings.TrimRight(line, "\r\n")
	if !strings.HasPrefix(line, "/") {
		if strings.TrimSpace(line) == "" {
			return Command{}, fmt.Errorf("nothing to send")
		}
		return Command{Kind: Text, Text: line}, nil
	}
	if strings.HasPrefix(line, "//") {
		return Command{Kind: Text, Text: line[1:]}, nil
	}
	name, rest, _ := strings.Cut(line[1:], " ")
	spec, ok := Lookup(name)
	if !ok {
		return Command{}, fmt.Errorf("/%s: unknown command; /help lists them", name)
	}
	rest = strings.TrimLeft(rest, " ")
	if len(strings.Fields(rest)) < spec.minArgs {
		return Command{}, fmt.Errorf("usage: %s", spec.Usage())
	}
	c := Command{Kind: spec.kind}
	usage := fmt.Errorf("usage: %s", spec.Usage())
	switch spec.kind {
	case Send:
		if target, text, quoted, err := quotedTarget(rest); err != nil {
			return Command{}, err
		} else if quoted {
			if strings.TrimSpace(text) == "" {
				return Command{}, usage
			}
			c.Target, c.Text = target, text
			break
		}
		target, text, _ := strings.Cut(rest, " ")
		c.Target, c.Text, c.rest = target, strings.TrimLeft(text, " "), rest
	case Search:
		c.Text = strings.TrimSpace(rest)
	case Resend:
		c.Target = strings.TrimSpace(rest)
		if t, extra, quoted, err := quotedTarget(rest); err != nil {
			return Command{}, err
		} else if quoted && strings.TrimSpace(extra) == "" {
			c.Target = t
		}
	case History:
		target, extra, quoted, err := quotedTarget(rest)
		if err != nil {
			return Command{}, err
		}
		if !quoted {
			// "/history Mary Ann 50": a last word that is a number is N.
			target, extra = strings.TrimSpace(rest), ""
			if i := strings.LastIndexByte(target, ' '); i > 0 {
				if _, err := strconv.Atoi(target[i+1:]); err == nil {
					target, extra = strings.TrimSpace(target[:i]), target[i+1:]
				}
			}
		}
		c.Target = target
		if extra = strings.TrimSpace(extra); extra != "" {
			n, err := strconv.Atoi(extra)
			if err != nil || n <= 0 || n > 10_000 {
				return Command{}, fmt.Errorf("usage: %s (N from 1 to 10000)", spec.Usage())
			}
			c.Count = n
		}
	case Me:
		c.Text = rest
	case SendFile:
		// The path is the rest of the line (it may hold spaces); a
		// nickname with spaces is quoted.
		target, path, quoted, err := quotedTarget(rest)
		if err != nil {
			return Command{}, err
		}
		if !quoted {
			target, path, _ = strings.Cut(rest, " ")
		}
		if path = strings.TrimSpace(path); path == "" {
			return Command{}, usage
		}
		c.Target, c.Text = target, path
	case Accept, Reject, Cancel:
		if len(strings.Fields(rest)) > 1 {
			return Command{}, usage
		}
		c.Target = strings.TrimSpace(rest)
	case Group:
		if err := parseGroup(&c, rest); err != nil {
			return Command{}, err
		}
	case Select, Whois, Nick, Ignore, Unignore, Close, Wait:
		target, extra, quoted, err := quotedTarget(rest)
		switch {
		case err != nil:
			return Command{}, err
		case quoted && strings.TrimSpace(extra) != "":
			return Command{}, usage
		case quoted:
			c.Target = target
		default:
			c.Target = strings.TrimSpace(rest)
		}
	case Verify:
		target, extra, quoted, err := quotedTarget(rest)
		if err != nil {
			return Command{}, err
		}
		if !quoted {
			// "/verify Mary Ann confirm": the last word may be confirm.
			target, extra = strings.TrimSpace(rest), ""
			if i := strings.LastIndexByte(target, ' '); i > 0 && target[i+1:] == "confirm" {
				target, extra = strings.TrimSpace(target[:i]), "confirm"
			}
		}
		switch strings.TrimSpace(extra) {
		case "":
		case "confirm":
			c.Confirm = true
		default:
			return Command{}, usage
		}
		c.Target = target
	}
	return c, nil
}

// parseGroup fills in a /group command from what follows "/group ".
func parseGroup(c *Command, rest string) error {
	sub, rest, _ := strings.Cut(rest, " ")
	name, rest, _ := strings.Cut(strings.TrimLeft(rest, " "), " ")
	c.Sub, c.Group = strings.ToLower(sub), strings.TrimPrefix(name, "#")
	rest = strings.TrimSpace(rest)
	if c.Group == "" {
		return fmt.Errorf("usage: /group %s #name", c.Sub)
	}
	switch c.Sub {
	case GroupNew:
		for rest != "" {
			nick, after, quoted, err := quotedTarget(rest)
			if err != nil {
				return err
			}
			if !quoted {
				nick, after, _ = strings.Cut(rest, " ")
			}
			c.Nicks = append(c.Nicks, nick)
			rest = strings.TrimLeft(after, " ")
		}
	case GroupRename:
		c.Text = strings.TrimPrefix(rest, "#")
		if c.Text == "" {
			return fmt.Errorf("usage: /group rename #name <new name>")
		}
	case GroupInvite, GroupKick, GroupPromote:
		nick, after, quoted, err := quotedTarget(rest)
		switch {
		case err != nil:
			return err
		case quoted && strings.TrimSpace(after) != "":
			return fmt.Errorf("usage: /group %s #name <nick>", c.Sub)
		case !quoted:
			nick = rest
		}
		if nick == "" {
			return fmt.Errorf("usage: /group %s #name <nick>", c.Sub)
		}
		c.Nicks = []string{nick}
	case GroupLeave, GroupMembers, GroupJoin:
		if rest != "" {
			return fmt.Errorf("usage: /group %s #name", c.Sub)
		}
	default:
		return fmt.Errorf("/group %s: unknown; use new, invite, kick, promote, rename, leave, members or join", sub)
	}
	return nil
}

// quotedTarget splits `"Mary Ann" rest` into the name and the rest, for
// nicknames with spaces. quoted is false when rest does not start with a
// double quote.
func quotedTarget(rest string) (target, after string, quoted bool, err error) {
	if !strings.HasPrefix(rest, `"`) {
		return "", "", false, nil
	}
	end := strings.IndexByte(rest[1:], '"')
	if end < 0 {
		return "", "", false, fmt.Errorf("missing closing \" after the nickname")
	}
	target = rest[1 : end+1]
	if target == "" {
		return "", "", false, fmt.Errorf("empty nickname between quotes")
	}
	return target, strings.TrimLeft(rest[end+2:], " "), true, nil
}

// PreferKnownTarget fixes the split of an unquoted "/send Mary Ann hi":
// Parse takes the first word as the nickname, but nicknames may hold
// spaces, so the longest run of leading words that known accepts (leaving
// some text) becomes the target instead.
func (c *Command) PreferKnownTarget(known func(name string) bool) {
	if c.Kind != Send || c.rest == "" {
		return
	}
	for i := len(c.rest) - 1; i > 0; i-- {
		if c.rest[i] != ' ' || c.rest[i-1] == ' ' {
			continue
		}
		target, text := c.rest[:i], strings.TrimLeft(c.rest[i:], " ")
		if text != "" && known(target) {
			c.Target, c.Text = target, text
			return
		}
	}
}

// Complete returns the completions of the last word of a partly typed
// line: command names for "/x", else peer names from nicks. The line with
// the word replaced is returned for each.
func Complete(line string, nicks []string) []string {
	start := strings.LastIndexByte(line, ' ') + 1
	word := line[start:]
	var out []string
	if start == 0 && strings.HasPrefix(word, "/") {
		for _, s := range Specs {
			for _, n := range append([]string{s.Name}, s.Aliases...) {
				if len(n) > 1 && strings.HasPrefix("/"+n, strings.ToLower(word)) {
					out = append(out, "/"+n+" ")
				}
			}
		}
		return out
	}
	if word == "" && !takesNick(line) {
		return nil
	}
	for _, n := range nicks {
		if strings.HasPrefix(strings.ToLower(n), strings.ToLower(word)) {
			if strings.Contains(n, " ") {
				n = `"` + n + `"`
			}
			out = append(out, line[:start]+n+" ")
		}
	}
	return out
}

// takesNick reports whether line is a command and its name, with the
// next word, a peer's name, still to come ("/msg ", "/send "), so an
// empty word completes to every peer.
func takesNick(line string) bool {
	name, rest, ok := strings.Cut(line, " ")
	if !ok || rest != "" || !strings.HasPrefix(name, "/") {
		return false
	}
	s, ok := Lookup(name[1:])
	return ok && (strings.HasPrefix(s.Args, "<nick>") || strings.HasPrefix(s.Args, "[nick]"))
}

// Action is how a /me action travels: as the text "/me waves", which an
// original client shows as it is and a Parlance client shows as an
// action. IsAction undoes it.
func Action(text string) string { return "/me " + text }

// IsAction returns the action of a message sent with /me.
func IsAction(text string) (string, bool) {
	return strings.CutPrefix(text, "/me ")
}
