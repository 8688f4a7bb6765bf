package app

import (
	"encoding/json"
	"fmt"

	"github.com/parlance-chat/parlance/net/wire"
)

// invitesKind is the record kind of the invitations waiting for an answer
// (one record, id "all": at most group.MaxInvitations frames of at most
// wire.MaxLine bytes each, within a record's limit).
const invitesKind = "group-invites"

// saveInvites keeps the invitations waiting, as their frames.
func saveInvites(rs RecordStore, fs []wire.GroupInvite) error {
	data, err := json.Marshal(fs)
	if err != nil {
		return fmt.Errorf("encode the invitations: %w", err)
	}
	if err := rs.SaveRecord(invitesKind, "all", data); err != nil {
		return fmt.Errorf("save the invitations: %w", err)
	}
	return nil
}

// loadInvites reads what saveInvites kept; an unreadable record is
// dropped (the inviter can invite again), with the engine checking each
// invitation again.
func loadInvites(rs RecordStore) ([]wire.GroupInvite, error) {
	all, err := rs.Records(invitesKind)
	if err != nil {
		return nil, fmt.Errorf("read the group invitations: %w", err)
	}
	var out []wire.GroupInvite
	for _, d := range all {
		var fs []wire.GroupInvite
		if err := json.Unmarshal(d, &fs); err != nil {
			continue
		}
		out = append(out, fs...)
	}
	return out, nil
}
