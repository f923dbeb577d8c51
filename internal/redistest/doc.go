// Package redistest starts and controls real Redis deployments for tests:
// single servers (optionally with AOF, a password, ACL users, TLS or a unix
// socket), Redis Cluster with replicas, and Sentinel groups. Every process is
// a real redis-server on a free loopback port, configured in a temporary
// directory, and is killed when the test ends, even if it fails or panics
// (and, through Pdeathsig, when the test binary itself dies).
//
// A missing redis-server binary fails the test; it is never skipped.
//
// Most tests only need a clean database:
//
//	srv, db := redistest.NewDB(t) // shared server, private database
//	url := srv.URL("redis", db)
//
// Tests that stop, restart, pause or reconfigure a server use Start:
//
//	srv := redistest.Start(t, redistest.WithAOF())
//	srv.Kill(t)
//	srv.Restart(t) // same port and directory, data kept by the AOF
//
// Packages using NewDB may call Main from TestMain to stop the shared server
// when their tests are done.
package redistest
