// Package filexfer sends files between two peers: offers, accept, reject
// and cancel, chunks checked one by one, the whole file's SHA-256 checked
// before it gets its name, and resumption from the last checkpoint after a
// dropped connection or a restart of either side.
//
// It runs over transport streams (transport.HandleStream and OpenStream
// with ALPN "parlance-file/1"): a TLS 1.3 connection of its own per
// exchange, authenticated by both identity keys, beside the chat
// connection, so chat is never queued behind chunks. The engine itself
// only needs a Dialer and io.ReadWriteCloser streams; the wire format is
// in frame.go.
//
// # How a transfer runs
//
//   - Offer (sender): hash the file (HashFile, once however many peers
//     get it), open a stream, send the offer (id, name, size, SHA-256, and
//     the group's id for an offer made in a group). The receiver records
//     it (or refuses: over MaxSize, too many offers, too many waiting) and
//     answers at once; the user decides later.
//   - Queued (sender): an offer that could not be delivered (ErrOffline
//     from the Dialer, a failed dial, no answer, "busy") waits as
//     StateQueued and is sent again on PeerOnline and at every sweep
//     (Config.SweepEvery), until Config.QueueFor has passed (expired);
//     Cancel drops it.
//   - Expiry (both sides): an offer neither accepted nor rejected within
//     Config.OfferFor expires (StateExpired, EventExpired).
//   - Accept (receiver): a download goroutine opens a stream to the sender
//     and asks for the file from its checkpoint offset ("get"). The sender
//     streams data frames (at most MaxChunk bytes each, each checked for
//     its offset and length) to the end. The receiver writes them to
//     DownloadDir/.parlance-<id>.part and hashes them as they come; every
//     Config.Checkpoint bytes it syncs the file and saves the offset and
//     the SHA-256 state. At the end it compares the hash with the offer's:
//     on a match it syncs, gives the file its name (never replacing one:
//     "name (1).ext") and answers OK; otherwise it deletes the partial file
//     and answers with the mismatch. Both sides then report done or failed.
//   - A dropped connection: the download retries with back-off (RetryMin
//     doubling to RetryMax, or at once on PeerOnline) and asks from its last
//     checkpoint; it stops (failed) if the peer's address proves another
//     key (transport.ErrKeyMismatch). A restarted receiver (New with the same Store and
//     DownloadDir) resumes its active downloads; a restarted sender serves
//     them from its Store's records.
//   - Reject and Cancel tell the peer on a stream of their own (a few
//     tries). A sender whose receiver never hears the cancel answers the
//     next get with "cancelled".
//
// # Wiring (what the node calls)
//
//	eng, err := filexfer.New(filexfer.Config{
//		DownloadDir: dir,             // [files] dir
//		Store:       store,           // a filexfer.Store: the node's records table (app.TransferStore)
//		MaxSize:     maxMB << 20,     // [files] max_file_mb (default 4096 MiB)
//		Dial: func(ctx context.Context, peer string) (io.ReadWriteCloser, error) {
//			d, ok := lookup(peer)     // the registry's transport.Dest for the peer ID
//			if !ok {
//				return nil, errOffline
//			}
//			return tr.OpenStream(ctx, d, filexfer.ALPN)
//		},
//		OnEvent:    func(ev filexfer.Event) { ... },  // must not block: into the node's event queue
//		AutoAccept: func(t filexfer.Transfer) bool { ... }, // e.g. verified peer and t.Size <= auto_accept_max_mb
//	})
//	err = tr.HandleStream(filexfer.ALPN, func(ctx context.Context, s *transport.Stream) {
//		eng.ServeConn(ctx, s.Peer(), s) // before tr.Serve
//	})
//
//	t, err := eng.Offer(ctx, peerID, path)  // /sendfile: hashes, then offers; blocks (run it off the UI)
//	src, err := filexfer.HashFile(ctx, path) // a group: hash once, then for each member
//	t, err = eng.OfferSource(ctx, memberID, src, filexfer.OfferOptions{Group: gid, Batch: b})
//	id, err := eng.Lookup(typed)            // the id a user typed (ShortID or more)
//	err = eng.Accept(id)                    // /accept; also resumes a download that failed on a full disk
//	err = eng.Reject(id)                    // /reject
//	err = eng.Cancel(id)                    // /cancel, either direction
//	list := eng.Transfers()                 // /transfers, oldest first; eng.Get(id) for one
//	eng.PeerOnline(peerID)                  // the peer was seen again: retry its downloads, send its queued offers
//	eng.Close()                             // before tr.Close; active downloads resume at the next New
//
// (tr is the node's *transport.Transport.)
//
// Original peers have no identity and so no streams: OpenStream refuses a
// Dest without one (ErrPlaintextRefused); the node should say "original
// peers can't receive files" before calling Offer.
//
// Events (Config.OnEvent) carry a Transfer snapshot: offered, queued,
// started, progress (Done bytes, Rate, ETA; at most every ProgressEvery
// per transfer), done, rejected, cancelled, failed, expired
// (Transfer.Error says why and what to do). Line mode passes them through a Throttle{Every: time.Second}
// and prints FormatEvent (progress lines via FormatProgress, a final line
// saying the SHA-256 was verified); the full-screen UI feeds Done/Size to a
// progress bar. IDs are 32 hex digits; UIs show ShortID and turn what the
// user types back into an id with eng.Lookup(prefix).
//
// # Where state lives
//
//   - Records (Store): offer, state, error and, for downloads, the
//     checkpoint (Offset and HashState). Saved on every state change and
//     checkpoint, never while the engine's lock is held.
//   - Partial downloads: DownloadDir/.parlance-<id>.part (0600).
//   - Finished downloads: DownloadDir/<sanitised name>, Record.Path.
//   - Uploads read the source path recorded at offer time; a file that
//     changed size since is refused ("offer it again"), and one changed in
//     place fails the receiver's hash check.
//
// # Limits
//
// Offers: at most MaxSize bytes, OfferBurst at once per peer then one per
// OfferEvery (refused ones count), MaxPending waiting per peer; names are
// sanitised (SanitizeName); MaxQueued offers queued per peer. Frames:
// bounded per type before their payload is read. Memory: a download and
// an upload each hold one chunk buffer (256 KiB), whatever the file's
// size. Streams: the transport's
// StreamConfig (per peer and in all, a deadline on every read and write).
//
// # Goroutines
//
// Each active download has a goroutine (plus one that syncs and saves
// checkpoints while it is connected), each reject or cancel notice one
// while it is delivered, each peer with queued offers one while they are
// delivered, and the engine one that sweeps (expiry, retries); Close ends
// and waits for them all. ServeConn runs
// in the caller's (the transport's connection) goroutine and returns when
// its exchange ends or the engine closes.
package filexfer
