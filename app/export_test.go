package app

import "github.com/parlance-chat/parlance/net/identity"

// GroupOutbox returns, for tests, the number of this node's messages to
// group key waiting in the outbox of member peer (0: none).
func (n *Node) GroupOutbox(key, peer PeerKey) uint64 {
	id, err := groupIDOf(key)
	if err != nil || n.grp == nil {
		return 0
	}
	to, err := memberOf(peer)
	if err != nil {
		return 0
	}
	n.grp.mu.Lock()
	st := n.grp.owed[owedKey{id, identity.ID(to)}]
	var from uint64
	if st != nil {
		from = st.from
	}
	n.grp.mu.Unlock()
	if st == nil {
		return 0
	}
	_, last, _ := n.grp.eng.Own(id, from, 0)
	if last < from {
		return 0
	}
	return last - from + 1
}
