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
	n.grp.mu.Unlock()
	if st == nil {
		return 0
	}
	_, last, _ := n.grp.eng.Own(id, st.from, 0)
	if last < st.from {
		return 0
	}
	return last - st.from + 1
}
