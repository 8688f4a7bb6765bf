// Package wire defines every byte format Parlance puts on the network: the
// LAN multicast datagrams, the peer-to-peer message line and the bootstrap
// (rendezvous) server's WebSocket messages.
//
// The original Rust Parlance is the compatibility contract: every type here
// encodes its original fields first, with exactly the original names, and
// adds Parlance's extensions only as extra fields (which the original
// ignores) or as new message types that are sent only to peers that asked
// for them. Both sides of every protocol use this package, so a format is
// defined in one place.
//
// Every Parse function takes bytes that came from outside: it never panics,
// rejects input over its size limit, and returns an error that says what is
// wrong.
package wire
