//! The table of options: each option of `#[ws_protocol(...)]`, of
//! [`Config`](super::Config), of the builder and of the environment, written
//! once. See [`table`](super::table) for the shapes of an entry and what is
//! made of them.
//!
//! Adding an option: one entry here, in documentation order, and its use;
//! then its row in README's and the attribute's tables, which a test
//! compares with this one.

/// Passes the table to `$callback!`.
macro_rules! options_table {
    ($callback:ident) => {
        $callback! {
            /// Connections admitted at once; `0` means unlimited.
            max_connections, with_max_connections(max: usize) = 10_000; {
                get: "Connections admitted at once; `0` means unlimited.",
                read: table::count,
                default: "`10_000`",
                form: r#"a whole number like "10_000", or 0 for unlimited"#,
                refuse: table::never,
                attribute: true,
            }

            /// Connections one user may hold at once; `0` means unlimited.
            ///
            /// One count per user on this node, whichever way the user was set: past
            /// it, a connect whose `authenticate` names the user gets HTTP 503, and
            /// [`Ctx::set_session`](crate::Ctx::set_session) fails with
            /// [`SetUserError::TooManyConnections`](crate::SetUserError::TooManyConnections).
            /// A connection that changes user moves its count.
            max_per_user, with_max_per_user(max: usize) = 0; {
                get: "Connections one user may hold at once; `0` means unlimited.",
                read: table::count,
                default: "`0`",
                form: r#"a whole number like "4", or 0 for unlimited"#,
                refuse: table::never,
                attribute: true,
            }

            /// Frames queued per connection; [`validate`](Self::validate) refuses
            /// `0`: a connection needs room for one frame.
            send_queue, with_send_queue(frames: usize) = 256; {
                get: "Frames queued per connection.",
                read: table::count,
                default: "`256`",
                form: r#"a whole number of frames of at least 1, like "256""#,
                refuse: table::zero,
                attribute: true,
            }

            /// The policy for a full send queue.
            on_full, with_on_full(policy: Overflow) = Overflow::Close; {
                get: "The policy for a full send queue.",
                read: table::choice,
                default: r#"`"close"`"#,
                form: r#"one of "close", "drop_newest" or "drop_oldest""#,
                refuse: table::never,
                attribute: true,
            }

            /// The largest inbound message in bytes; larger messages close the
            /// connection with 1009.
            max_message_size, with_max_message_size(bytes: usize) = 64 * 1024; {
                get: "The largest inbound message in bytes.",
                read: table::size,
                default: r#"`"64KiB"`"#,
                form: r#"a non-zero size like "64KiB" or "1MiB""#,
                refuse: table::zero,
                attribute: true,
            }

            /// The interval between server pings; `None` disables them.
            heartbeat, with_heartbeat(every: Option<Duration>) = Some(Duration::from_secs(30)); {
                get: "The interval between server pings.",
                read: table::duration_or_off,
                default: r#"`"30s"`"#,
                form: r#"a non-zero duration like "30s" or "off""#,
                refuse: table::zero_duration,
                attribute: true,
            }

            /// How long a peer may stay silent (no frame, no pong) before it is closed
            /// with 1001; `None` disables the check.
            idle_timeout, with_idle_timeout(after: Option<Duration>) = Some(Duration::from_secs(60)); {
                get: "How long a peer may stay silent before it is closed.",
                read: table::duration_or_off,
                default: r#"`"60s"`"#,
                form: r#"a non-zero duration like "60s" or "off""#,
                refuse: table::zero_duration,
                attribute: true,
            }

            /// The policy for inbound messages that cannot be decoded.
            on_invalid, with_on_invalid(policy: OnInvalid) = OnInvalid::Error; {
                get: "The policy for inbound messages that cannot be decoded.",
                read: table::choice,
                default: r#"`"error"`"#,
                form: r#"one of "error" or "close""#,
                refuse: table::never,
                attribute: true,
            }

            /// The per-connection inbound rate limit; `None` disables it.
            rate_limit, with_rate_limit(limit: Option<RateLimit>) = None; {
                get: "The per-connection inbound rate limit.",
                read: table::rate_or_off,
                default: "off",
                form: r#"a rate of at least 1 message per non-zero period, like "20/s", "600/m" or "5/500ms", or "off""#,
                refuse: |limit: &Option<RateLimit>| {
                    limit.is_some_and(|limit| limit.messages() == 0 || limit.per().is_zero())
                },
                attribute: true,
            }

            // The burst of `rate_limit`, which holds it: after it, so that the
            // environment sets the rate first.
            rate_burst {
                read: |text| {
                    let burst = units::parse_count(text)?;
                    u32::try_from(burst).map_err(|_| UnitError::TooLarge)?;
                    Ok(table::Value::Count(burst as usize))
                },
                set: |config, value| {
                    let (Some(limit), table::Value::Count(burst)) = (config.rate_limit(), value) else {
                        return None;
                    };
                    let burst = u32::try_from(burst).ok()?;
                    Some(config.with_rate_limit(Some(limit.with_burst(burst))))
                },
                default: "the rate",
                form: r#"a whole number of at least 1, like "40", with a rate_limit"#,
                // A burst of zero that only follows zero messages is not news.
                refuse: |config: &Config| {
                    config
                        .rate_limit()
                        .is_some_and(|limit| limit.burst() == 0 && limit.messages() != 0)
                },
                attribute: true,
            }

            /// The policy for messages over the rate limit.
            on_rate_limit, with_on_rate_limit(policy: OnRateLimit) = OnRateLimit::Error; {
                get: "The policy for messages over the rate limit.",
                read: table::choice,
                default: r#"`"error"`"#,
                form: r#"one of "error" or "close""#,
                refuse: table::never,
                attribute: true,
            }

            /// The most read per syscall between frames, in bytes. The read goes
            /// to the worker thread's scratch buffer and only what arrived is kept,
            /// so an idle connection holds no read buffer.
            // Allocated for every connection, idle or not: small by default.
            read_buffer, with_read_buffer(bytes: usize) = 1024; {
                get: "The most read per syscall between frames, in bytes.",
                read: table::size,
                default: r#"`"1KiB"`"#,
                form: r#"a non-zero size like "1KiB""#,
                refuse: table::zero,
                attribute: true,
            }

            /// Outbound frames are coalesced up to this many bytes before a write.
            write_buffer, with_write_buffer(bytes: usize) = 64 * 1024; {
                get: "The write coalescing buffer in bytes.",
                read: table::size,
                default: r#"`"64KiB"`"#,
                form: r#"a non-zero size like "64KiB""#,
                refuse: table::zero,
                attribute: true,
            }

            /// Whether permessage-deflate is negotiated: see [`Compression`].
            // On: browsers offer it on every connection, a broadcast pays for
            // one compression whatever its fan-out, and JSON shrinks 3x or more.
            compression, with_compression(compression: Compression) = Compression::Deflate; {
                get: "Whether permessage-deflate is negotiated.",
                read: table::choice,
                default: r#"`"deflate"`"#,
                form: r#"one of "deflate" or "off""#,
                refuse: table::never,
                attribute: true,
            }

            /// Frames with a smaller payload than this many bytes are sent
            /// uncompressed to every connection; `0` compresses all.
            // Below a few hundred bytes deflate saves a few dozen bytes per
            // frame for the cost of a compression: not worth it.
            compress_min_size, with_compress_min_size(bytes: usize) = 256; {
                get: "The smallest frame that is sent compressed.",
                read: table::size,
                default: r#"`"256B"`"#,
                form: r#"a size like "256B", or 0 to compress every frame"#,
                refuse: table::never,
                attribute: true,
            }

            /// Bytes one connection may have inflated per period (the budget of
            /// its compressed messages, counted at their inflated size); `None`
            /// disables it. A connection may inflate one period's worth at once;
            /// past its budget it reads nothing more (TCP pushes back on the peer)
            /// until the budget has refilled, so it is slowed, never closed, and a
            /// message is never refused for it. Uncompressed messages are not
            /// counted. What it guarantees: one connection costs at most this much
            /// inflation (plus one message) per period, however small the frames
            /// that carry it.
            ///
            /// Why a pause rather than a close (1008): sending compressible data is
            /// not misbehaviour (a pasted document, a burst after a reconnect), a
            /// close would cost such a client its connection and its place in its
            /// rooms, and it would buy nothing against an attacker, who reconnects;
            /// a pause caps the server's work exactly, and TCP carries it back to
            /// the sender, whose own writes then wait. To close instead, combine
            /// it with [`rate_limit`](Self::with_rate_limit) and `on_rate_limit =
            /// "close"`.
            ///
            /// ```
            /// use std::time::Duration;
            /// use ws_core::{ByteRate, Config};
            /// let config = Config::DEFAULT
            ///     .with_inflate_rate(Some(ByteRate::new(4 << 20, Duration::from_secs(1))))
            ///     .with_inflate_node_rate(None);
            /// assert_eq!(config.inflate_rate().unwrap().bytes(), 4 << 20);
            /// assert_eq!(Config::DEFAULT.inflate_rate().unwrap().bytes(), 1 << 20);
            /// assert_eq!(Config::DEFAULT.inflate_node_rate().unwrap().bytes(), 64 << 20);
            /// ```
            // Inflating is about 1 GB/s of output on one core, and a 125-byte
            // frame can inflate to a whole `max_message_size`: unbounded, one
            // client keeps a core busy for the price of a few MB/s. 1 MiB/s is
            // sixteen 64 KiB messages a second from one connection (a chat
            // client sends a few short ones); 64 MiB/s keeps the whole node's
            // inflation under a tenth of a core, whatever the connections.
            inflate_rate, with_inflate_rate(rate: Option<ByteRate>) =
                Some(ByteRate::new(1 << 20, Duration::from_secs(1))); {
                get: "Bytes one connection may have inflated per period.",
                read: table::byte_rate_or_off,
                default: r#"`"1MiB/s"`"#,
                form: r#"a non-zero byte rate like "1MiB/s" or "512KiB/500ms", or "off""#,
                refuse: table::zero_byte_rate,
                attribute: true,
            }

            /// Bytes all connections of the node together may have inflated per
            /// period; `None` disables it. Past it, each connection that inflates
            /// a message pauses its reading until the node's budget has refilled:
            /// under a flood every client that sends compressed messages is slowed
            /// alike (one message each per pause), while clients that send them
            /// uncompressed are not.
            inflate_node_rate, with_inflate_node_rate(rate: Option<ByteRate>) =
                Some(ByteRate::new(64 << 20, Duration::from_secs(1))); {
                get: "Bytes the node may have inflated per period.",
                read: table::byte_rate_or_off,
                default: r#"`"64MiB/s"`"#,
                form: r#"a non-zero byte rate like "64MiB/s", or "off""#,
                refuse: table::zero_byte_rate,
                attribute: true,
            }

            /// Frames one message may span, the first included; `0` means
            /// unlimited. The frame past it closes the connection with
            /// [`close_code::POLICY`](crate::close_code::POLICY) (1008), "too many
            /// fragments".
            ///
            /// ```
            /// use std::time::Duration;
            /// use ws_core::Config;
            /// let config = Config::DEFAULT
            ///     .with_max_fragments(16)
            ///     .with_fragment_timeout(Some(Duration::from_secs(5)));
            /// assert_eq!(config.max_fragments(), 16);
            /// assert_eq!(config.fragment_timeout(), Some(Duration::from_secs(5)));
            /// ```
            // Browsers never fragment; a 64 KiB message in 64-byte pieces is
            // 1,024 frames. Empty continuations cost a peer 6 bytes each and
            // would otherwise keep a message open for ever.
            max_fragments, with_max_fragments(max: usize) = 1024; {
                get: "Frames one message may span; `0` means unlimited.",
                read: table::count,
                default: "`1_024`",
                form: r#"a whole number of frames like "1024", or 0 for unlimited"#,
                refuse: table::never,
                attribute: true,
            }

            /// How long a fragmented message may take from its first frame to its
            /// last; `None` disables it. Checked at every frame that arrives while
            /// the message is open (a silent peer is the idle timeout's); past it
            /// the connection is closed with
            /// [`close_code::POLICY`](crate::close_code::POLICY) (1008), "message
            /// not completed in time".
            fragment_timeout, with_fragment_timeout(after: Option<Duration>) =
                Some(Duration::from_secs(30)); {
                get: "How long a fragmented message may take.",
                read: table::duration_or_off,
                default: r#"`"30s"`"#,
                form: r#"a non-zero duration like "30s" or "off""#,
                refuse: table::zero_duration,
                attribute: true,
            }

            /// How long a connection's reading may stay paused because its send
            /// queue is backed up while its writer makes no progress (the peer does
            /// not read); then it is closed with 1013.
            ///
            /// A connection stops reading while its send queue is half full, and
            /// resumes once the writer has drained it to a quarter, so a peer that
            /// reads what it asked for is never evicted for its own burst.
            stall_timeout, with_stall_timeout(after: Duration) = Duration::from_secs(10); {
                get: "How long reading may stay paused behind a writer that makes no progress.",
                read: table::duration,
                default: r#"`"10s"`"#,
                form: r#"a non-zero duration like "10s""#,
                refuse: Duration::is_zero,
                attribute: true,
            }

            /// How long before a session's [expiry](crate::Session::expires_at)
            /// the server sends the connection a
            /// [`RefreshRequired`](crate::RefreshRequired) frame. A session that
            /// expires sooner than this gets it at once. If no valid `refresh`
            /// arrives by the expiry the connection is closed with
            /// [`close_code::SESSION_EXPIRED`](crate::close_code::SESSION_EXPIRED).
            ///
            /// ```
            /// use std::time::Duration;
            /// use ws_core::Config;
            ///
            /// let config = Config::DEFAULT.with_refresh_before(Duration::from_secs(60));
            /// assert_eq!(config.refresh_before(), Duration::from_secs(60));
            /// assert_eq!(Config::DEFAULT.refresh_before(), Duration::from_secs(30));
            /// ```
            // Centrifugo's client refreshes 25 s ahead; 30 s leaves a
            // round trip to an identity provider room on a slow mobile link.
            refresh_before, with_refresh_before(lead: Duration) = Duration::from_secs(30); {
                get: "How long before a session's expiry a refresh is asked for.",
                read: table::duration,
                default: r#"`"30s"`"#,
                form: r#"a non-zero duration like "30s""#,
                refuse: Duration::is_zero,
                attribute: true,
            }

            /// Rooms one connection may be in at once; `0` means unlimited. Past
            /// it, [`Ctx::join`](crate::Ctx::join) fails with
            /// [`JoinError::TooManyRooms`](crate::JoinError::TooManyRooms).
            ///
            /// ```
            /// use ws_core::Config;
            /// let config = Config::DEFAULT.with_max_rooms(16).with_max_room_name(64);
            /// assert_eq!((config.max_rooms(), config.max_room_name()), (16, 64));
            /// assert_eq!(Config::DEFAULT.max_rooms(), 128);
            /// ```
            // Centrifugo's defaults (`client_channel_limit` 128, channel names
            // of 255): ample for a client in many chats or lobbies, while a
            // hostile peer creates at most 128 memberships (and, with Redis, 128
            // subscriptions) of at most 255 bytes each.
            max_rooms, with_max_rooms(max: usize) = 128; {
                get: "Rooms one connection may be in at once; `0` means unlimited.",
                read: table::count,
                default: "`128`",
                form: r#"a whole number like "128", or 0 for unlimited"#,
                refuse: table::never,
                attribute: true,
            }

            /// The longest room name in bytes; `0` means unlimited. A longer one
            /// fails [`Ctx::join`](crate::Ctx::join) with
            /// [`JoinError::RoomNameTooLong`](crate::JoinError::RoomNameTooLong).
            max_room_name, with_max_room_name(bytes: usize) = 255; {
                get: "The longest room name in bytes; `0` means unlimited.",
                read: table::count,
                default: "`255`",
                form: r#"a whole number of bytes like "255", or 0 for unlimited"#,
                refuse: table::never,
                attribute: true,
            }

            /// The largest presence meta one connection may set, in bytes of its
            /// JSON; `0` means unlimited. A larger one fails
            /// [`Ctx::set_presence`](crate::Ctx::set_presence) with
            /// [`PresenceError::TooLarge`](crate::presence::PresenceError::TooLarge)
            /// (client code `presence_meta_too_large`).
            ///
            /// ```
            /// use ws_core::Config;
            /// let config = Config::DEFAULT.with_max_presence_meta(256);
            /// assert_eq!(config.max_presence_meta(), 256);
            /// assert_eq!(Config::DEFAULT.max_presence_meta(), 1024);
            /// ```
            // Every member of a room reads every meta of the room in each
            // listing and diff, and with Redis each node's copy holds them:
            // a status, a cursor or a device name fit in far less.
            max_presence_meta, with_max_presence_meta(bytes: usize) = 1024; {
                get: "The largest presence meta of one connection, in bytes; `0` means unlimited.",
                read: table::size,
                default: r#"`"1KiB"`"#,
                form: r#"a size like "1KiB", or 0 for unlimited"#,
                refuse: table::never,
                attribute: true,
            }

            /// How long a connection has from its accept to the 101: the request
            /// head must arrive within it (else the connection is dropped; set by
            /// [`serve`](crate::serve)) and `authenticate` must finish within what
            /// is left (else HTTP 503).
            handshake_timeout, with_handshake_timeout(timeout: Duration) = Duration::from_secs(10); {
                get: "How long a connection has from its accept to the 101.",
                read: table::duration,
                default: r#"`"10s"`"#,
                form: r#"a non-zero duration like "10s""#,
                refuse: Duration::is_zero,
                attribute: true,
            }

            /// Connections one client IP may hold at once; `0` means unlimited.
            /// Past it the handshake gets HTTP 503 with `Retry-After`.
            max_per_ip, with_max_per_ip(max: usize) = 0; {
                get: "Connections one client IP may hold at once; `0` means unlimited.",
                read: table::count,
                default: "`0`",
                form: r#"a whole number like "20", or 0 for unlimited"#,
                refuse: table::never,
                attribute: true,
            }

            /// Handshakes one client IP may start, e.g. 10 per second with bursts
            /// of [`RateLimit::burst`]; `None` disables it. Past it: HTTP 429.
            handshake_rate, with_handshake_rate(rate: Option<RateLimit>) = None; {
                get: "Handshakes one client IP may start per period.",
                read: table::rate_or_off,
                default: "off",
                form: r#"a rate of at least 1 handshake per non-zero period, like "10/s", or "off""#,
                refuse: |rate: &Option<RateLimit>| {
                    rate.is_some_and(|rate| {
                        rate.messages() == 0 || rate.per().is_zero() || rate.burst() == 0
                    })
                },
                attribute: true,
            }

            // Builder and environment only; its methods are written by hand
            // (generic setters).
            trusted_proxies: Cow<'static, [IpNet]> = Cow::Borrowed(&[]); {
                read: table::proxies,
                default: "none",
                form: r#"a comma-separated list of IPs or CIDRs like "10.0.0.0/8, ::1""#,
                refuse: table::never,
                attribute: false,
            }

            allowed_origins: Cow<'static, [Cow<'static, str>]> = Cow::Borrowed(&[]); {
                read: table::origins,
                default: "none",
                form: r#"a comma-separated list of origins like "https://app.example, https://*.example.org", or "*""#,
                refuse: table::never,
                attribute: false,
            }

            /// Messages kept per room; `0` (the default) turns history off, and
            /// then it costs nothing. Only the variants marked
            /// `#[ws(server, history)]` are kept, and only when sent to a room.
            ///
            /// ```
            /// use std::time::Duration;
            /// use ws_core::Config;
            /// let config = Config::DEFAULT
            ///     .with_history(1000)
            ///     .with_history_ttl(Some(Duration::from_secs(300)))
            ///     .with_history_bytes(4 << 20)
            ///     .with_history_memory(256 << 20)
            ///     .with_history_streams(50_000);
            /// assert_eq!(config.history(), 1000);
            /// assert_eq!(config.history_ttl(), Some(Duration::from_secs(300)));
            /// assert_eq!((config.history_bytes(), config.history_memory()), (4 << 20, 256 << 20));
            /// assert_eq!(config.history_streams(), 50_000);
            /// assert!(config.validate().is_ok());
            /// ```
            history, with_history(messages: usize) = 0; {
                get: "Messages kept per room; `0` is off.",
                read: table::count,
                default: "`0`",
                form: r#"a whole number of messages like "1000", or 0 for off"#,
                refuse: table::never,
                attribute: true,
            }

            /// How old a kept message may get; `None` (the default) keeps messages
            /// until the other bounds push them out. A member resuming from a
            /// message that expired is told `expired`.
            history_ttl, with_history_ttl(ttl: Option<Duration>) = None; {
                get: "How old a kept message may get; `None` is no limit.",
                read: table::duration_or_off,
                default: r#"`"off"`"#,
                form: r#"a non-zero duration like "5m" or "off""#,
                refuse: table::zero_duration,
                attribute: true,
            }

            /// Bytes of encoded messages kept per room (at least 1).
            // A room holds at most 16 messages of the default 64 KiB limit, and
            // all rooms together 64 MiB: a peer that sends 1,000 × 64 KiB into
            // each of many rooms evicts the oldest history, never grows memory.
            history_bytes, with_history_bytes(bytes: usize) = 1 << 20; {
                get: "Bytes kept per room.",
                read: table::size,
                default: r#"`"1MiB"`"#,
                form: r#"a non-zero size like "1MiB""#,
                refuse: table::zero,
                attribute: true,
            }

            /// Memory kept for history per node, all rooms together (at least 1);
            /// past it the oldest messages of any room go first, and rooms not
            /// written to since before the oldest message. It counts what the node
            /// holds, not only the messages' bytes: each frame's allocation, 48
            /// bytes per message and about 670 per room and its name (see
            /// [`history`](crate::history#what-history_memory-counts)); buffers
            /// kept for reuse add at most an 8th of it.
            history_memory, with_history_memory(bytes: usize) = 64 << 20; {
                get: "Bytes kept per node.",
                read: table::size,
                default: r#"`"64MiB"`"#,
                form: r#"a non-zero size like "64MiB""#,
                refuse: table::zero,
                attribute: true,
            }

            /// Rooms with a history per node (at least 1); past it the room written
            /// least recently loses its history and its epoch, so members resuming
            /// it are told `epoch_changed`.
            history_streams, with_history_streams(max: usize) = 10_000; {
                get: "Rooms with a history per node.",
                read: table::count,
                default: "`10_000`",
                form: r#"a whole number of rooms of at least 1, like "10_000""#,
                refuse: table::zero,
                attribute: true,
            }
        }
    };
}
pub(crate) use options_table;
