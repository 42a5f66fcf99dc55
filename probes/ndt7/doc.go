// Package ndt7 implements both ends of the M-Lab ndt7 throughput test,
// following the ndt7 protocol specification v0.11.0
// (github.com/m-lab/ndt-server, spec/ndt7-protocol.md).
//
// A test is one WebSocket connection (subprotocol [SubProtocol]) per
// direction. The sending side writes binary messages of random bytes whose
// size starts at 8 KiB and doubles while it is below 1/16 of the bytes
// already sent, up to 1 MiB; the server writes a JSON [Measurement] about
// every 250 ms. A test lasts about ten seconds and never more than fifteen.
//
// [Handler] serves the two endpoints ([DownloadPath], [UploadPath]) with
// plain net/http. [Client] runs a test against such a server (or an M-Lab
// one) and returns a [Summary]:
//
//   - download speed = application bytes received by the client / the
//     client's elapsed time;
//   - upload speed = the server's view: TCPInfo.BytesReceived /
//     TCPInfo.ElapsedTime of its last measurement, or AppInfo when the
//     server has no TCP_INFO.
//
// Speeds are in bytes per second; the package never uses bits.
//
// Both sides send Measurements: the server about every 250 ms, with
// ConnectionInfo once; the client as often, with its own AppInfo and, on
// Linux, its socket's TCPInfo (the server keeps the last one in
// [ServerStats.LastClient]). Binary messages of up to [MaxReadMessageSize]
// (1 << 24, the specification's floor) are accepted and discarded as they
// stream in; text messages, which are buffered, are limited to 64 KiB.
//
// With [Client.EarlyStop] the client ends a test once its throughput has
// settled, as the specification allows.
//
// Deviations from the specification, on purpose:
//
//   - Senders stop scaling messages at [MaxMessageSize] (1 MiB), as
//     ndt-server and the M-Lab clients do, rather than 16 MiB.
//   - The client treats a connection that ends without a close handshake
//     before the test duration elapsed as an error rather than a result,
//     because a partial number would be reported as if it were a full test.
//     After the duration has elapsed such an end is tolerated.
//
// TCP_INFO (RTT, retransmissions, kernel byte counters) and BBR are used on
// Linux only; elsewhere TCPInfo is absent and the speeds fall back to
// application-level counters.
package ndt7
