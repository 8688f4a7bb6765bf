// Package group is the engine of end-to-end encrypted group chats: group
// membership as a graph of signed operations, signed group messages with
// per-sender sequence numbers, and catch-up. It is pure logic: it opens no
// socket and starts no goroutine. The node gives it the group frames
// (net/wire group.go) that arrive on its peers' TLS connections, with the
// identity each connection proved, and writes the lines it returns to the
// peers they name. Privacy comes from those connections: a group frame goes
// only to members, each over its own pairwise TLS connection, so no one
// outside the group (a bootstrap server included) reads it. Signatures make
// every op and message checkable by every member, whoever relays it.
//
// # Model
//
// A group has a random 128-bit id, a name (shown as #name), a creator and
// up to MaxMembers members, each an identity (peer ID). Original peers have
// no identity and cannot be members (ErrOriginalPeer). Membership changes
// are ops: create, invite, kick, leave, rename, promote, demote. Each is
// signed with Ed25519 by the member who makes it and carries that member's
// public key; a receiver checks that the key derives the signer's peer ID
// and that the signature holds, and drops the op otherwise (logged,
// rate-limited). Each op but create names the hashes of the ops its signer
// had last seen (the heads), so the ops form a graph rooted at create; an
// op whose parents have not arrived waits (at most MaxPending per group,
// the oldest dropped) while a catch-up fetches them. An op joins the graph
// only if its signer is the creator or is named by an invite among the
// op's ancestors, so a stranger cannot fill a group's history; this
// depends on the op's past alone, so every member decides alike.
//
// # Convergence
//
// Every member folds the same graph the same way, so members who have the
// same ops have the same state, whatever order the ops arrived in:
//
//  1. Order: a topological sort (Kahn's) that, among the ops whose parents
//     are all placed, takes the one whose signer ranks first in the state so
//     far: admins by seniority (the creator first, then in the order they
//     became admin), then members by the order they joined, then everyone
//     else; a tie (one signer's own concurrent ops) goes to the lower hash.
//     A signer can grind a hash but not its seniority.
//  2. Authority: an op takes effect iff its signer is allowed in the state
//     so far. Anyone may leave; admins may invite, kick, promote, demote
//     and rename; kicking or demoting an admin needs a more senior admin.
//     An op that is not allowed is void: it stays in the graph (later ops
//     name it) but changes nothing.
//  3. Removal wins: when a kick or demote of X takes effect, every other op
//     by X that is concurrent with it (neither before nor after it in the
//     graph) is void, except X's leave. Otherwise X could name old heads to
//     pass off new ops as made before its removal.
//
// So two admins kicking each other at once: the more senior one's kick takes
// effect, and the other's is void (rule 2: the junior may not kick the
// senior at all). An admin kicking C while C invites D: the kick voids the
// invite (rule 3). Two invites that would pass MaxMembers: the one placed
// first takes effect. When the last admin leaves, the most senior member
// becomes admin.
//
// # Messages
//
// A message carries the group id, a random id, the sender's sequence number
// (from 1), the sender's clock (Unix milliseconds) and the text, signed by
// the sender, so a member relaying it in a catch-up cannot alter it. A
// message is accepted iff its signature holds and its sender is a member,
// or a former member and the message is numbered at most the cutoff its
// kick or leave recorded (the kicker's last message from it, the leaver's
// own last). Messages are de-duplicated by id and by sender and sequence
// number, and shown by sender timestamp, then id (DisplayBefore), the same
// on every member; a late message takes its place among the others. A
// message already shown is not withdrawn when a concurrent kick arrives
// later.
//
// # Catch-up
//
// Each group tracks the sequence numbers it holds per sender. A message
// past the next expected number, an op whose parents are missing, or a
// peer connecting, leads to a GroupSync to a member: its heads (so the
// other side sends the ops not in their past) and the wanted ranges per
// sender (the gaps, and everything after the last). The reply carries as
// many ops and messages as fit in one line and says if there is more; the
// asker then asks again. Only members are answered. A new member's first
// catch-up brings the history the member it asks holds, from before it
// joined too (history is shared with members, as in most group chats).
//
// # Limits
//
//   - MaxMembers (256): an invite beyond it is refused or void.
//   - MaxOps (4096) ops per group: beyond it ops are refused; make a new
//     group. A member or former member who floods ops can reach it.
//   - MaxPending (64) ops per group waiting for parents: the oldest is
//     dropped, and a later catch-up brings it back.
//   - MaxGapsPerSender (256): beyond it the oldest gap is no longer asked
//     for.
//   - MaxSeqJump: a message numbered more than 2^20 past its sender's last
//     is refused.
//   - MaxInvitations (64) unanswered invitations: the oldest is forgotten.
//   - Every frame is one line of at most wire.MaxLine bytes; a message's
//     text at most wire.MaxGroupText bytes.
package group
