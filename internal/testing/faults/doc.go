// Package faults proves fibremon's promise that nothing is lost, with real
// processes and real faults. It holds tests only.
//
// TestMain builds the real binaries once; each test starts `fibremon
// serve` (SQLite, or a real influxd from internal/testing/influxtest) and
// `fibreprobe run` as child processes on loopback ports from
// internal/testing/testnet, with a token issued by `fibremon token add`. The probe
// measures four cheap things every second — an HTTP server and a TCP
// listener of the test process, a port where nothing listens, and TCP
// latency — so it makes about four results a second, up and down alike.
//
// # What "every result" means
//
// The truth is what the probe made, by its own account: its /metrics
// counters (fibreprobe_measurements_total outcome up or down: a result
// made; fibreprobe_spool_dropped_results_total; fibreprobe_spool_write_errors_total;
// fibreprobe_spool_results), its log and, for a probe killed with
// SIGKILL, its spool directory read after the kill together with the
// results it had acknowledged. Because the probe keeps measuring, the
// final check waits for a moment caught between two scrapes that see the
// same number of results made and an empty spool, with the service's
// stored results (GET /api/v1/results) read in between; then the stored
// results must be distinct and exactly as many as the probe made, minus
// those it counted as dropped. A lost or doubled result never lets the two
// agree, and the test fails at its deadline with the figures it last saw.
// Nothing asserts how fast anything is; the deadlines are generous.
//
// # The faults
//
//	test                             fault                                  asserts
//	TestServiceDown                  service stopped (SIGTERM) for 2 min    the probe keeps measuring and spooling, nothing is
//	                                 while the probe measures               acknowledged meanwhile; after the restart every result
//	                                                                        made is stored once; the probe's retries back off
//	                                                                        (doubling, ±20 % jitter, one log line per failed
//	                                                                        upload, fewer than 20 in 2 min)
//	TestServiceKilledDuringUploads   service killed with SIGKILL while 8    every result acknowledged (2xx) before the kill is
//	                                 goroutines post batches                stored after the restart; each batch retried to a 2xx,
//	                                                                        the store then holds exactly the results posted, once
//	TestInfluxDown                   influxd killed (SIGKILL) mid-run,      POST answers 503 with Retry-After, /readyz 503 then
//	                                 restarted on the same data             200 again, nothing acknowledged or stored while down,
//	                                                                        the refused batch never stored; the probe waits at
//	                                                                        least Retry-After, with jitter; every result made is
//	                                                                        stored once, in InfluxDB itself as through the API
//	TestReplicaKilled                two `fibremon serve` replicas on one   before the kill, b's status shows a site only a was
//	                                 influxd, four probes spread over both  sent (its timed rebuild from InfluxDB); after it, a's
//	                                 (service.urls), and uploaders posting  probes fail over to b; the uploaders' batches a wrote
//	                                 to a back to back; replica a killed    without answering go to b again; every result made or
//	                                 with SIGKILL mid-run                   posted is in InfluxDB exactly once (read there)
//	TestProbeKilled                  probe killed with SIGKILL between the  the unacknowledged batch is still in the spool; after
//	                                 service's commit and its Ack (a relay  the restart it is sent again, counted as duplicates
//	                                 first refuses uploads to build a       and stored once; every result made is stored once
//	                                 backlog, then holds the service's 200
//	                                 to a full batch of 10 back)
//	TestSpoolDiskFull                the probe's spool on a 2 MiB tmpfs     the probe keeps measuring, writes every new result by
//	(Linux, root)                    filled to ENOSPC, service killed       dropping the oldest, counts and logs the drops; once
//	                                                                        the disk has room and the service is back the spool
//	                                                                        drains; stored = made - dropped, and the dropped are
//	                                                                        the oldest (no stored result from that span)
//	TestPowerCut                     power cut (powerfs: what is not        every result acknowledged by the service (2xx) is
//	(Linux, root, FUSE)              fsynced is lost) under the service's   stored, equal to what was posted, each batch whole or
//	                                 SQLite file and a spool writer         not at all, integrity_check passes; every result whose
//	                                 process's spool, 15 times at random    spool Put returned nil is spooled or stored, every
//	                                 moments under load or during start     spool file decodes
//	TestGracefulShutdown             SIGTERM with a POST in flight          the service refuses new connections, finishes the
//	                                                                        request (200, batch stored) and exits 0; a request
//	                                                                        not finished within --web.shutdown-timeout is cut
//	                                                                        short: no answer, nothing of it stored
//	TestShutdownLameDuck             SIGTERM with --web.shutdown-delay      /readyz answers 503 while requests are still served,
//	                                                                        then the service exits cleanly
//
// Elsewhere: cmd/fibremon's TestServeInflux posts batches through an
// InfluxDB outage by hand, and internal/spool's tests cover ENOSPC with an
// injected writer; these tests add the real processes.
//
// The tests run in parallel, so the package takes about as long as its
// longest test: TestServiceDown's two minutes, plus the probe's backoff
// (up to a few minutes more after a two-minute outage). Run the suite
// alone with
//
//	go test -race -count=1 -v ./internal/testing/faults
//
// -v prints each scenario's figures (results made, stored, dropped).
// TestSpoolDiskFull needs root to mount its tmpfs, TestPowerCut root and
// /dev/fuse for its powerfs (internal/testing/powerfs); each skips, saying
// so, without them. CI runs as root. -short skips the whole package.
package faults
