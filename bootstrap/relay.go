package bootstrap

// issueRelay reserves a relayed stream between the peers whose identities
// are a and b and returns the token each presents to the relay endpoint;
// ok is false when the relay is off or either peer is over its relay
// limits.
//
// Not built yet: the relay lands with issue 12.
func (s *Server) issueRelay(a, b string) (token string, ok bool) { return "", false }
