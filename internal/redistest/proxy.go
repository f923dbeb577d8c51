package redistest

import (
	"bytes"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP relay in front of a server that lets a test choose when
// replies reach a client: late by a fixed delay (a slow network to one
// client), or held until the test releases them (a reply still on the wire
// while the test makes something else happen). Commands always go through
// at once, in order, so Redis executes them when it would without a proxy.
type Proxy struct {
	Addr   string // host:port clients connect to
	target *Server
	ln     net.Listener

	mu      sync.Mutex
	delay   time.Duration
	holding []byte        // replies of connections that sent this are held
	release chan struct{} // closed when held replies may go
	conns   map[*proxyConn]struct{}
	closed  bool
	wg      sync.WaitGroup
}

type proxyConn struct {
	client, server net.Conn
	matched        bool // sent the command being held (under Proxy.mu)
}

// StartProxy starts a proxy for s on a free loopback port; it is closed when
// the test ends.
func StartProxy(t testing.TB, s *Server) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: proxy: %v", err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: s, ln: ln, conns: map[*proxyConn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// URL is the server's URL with the proxy's address.
func (p *Proxy) URL(scheme string, db int) string {
	return buildURL(scheme, "", p.target.Password, p.Addr, db, nil)
}

// SetDelay makes every reply reach its client d after Redis sent it (0: at
// once). Order is kept.
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// HoldReplies holds, from now on, the replies of every connection that sends
// (or has sent since HoldReplies) a command containing the RESP encoding of
// args, e.g. HoldReplies("GET", key). Release lets them go, in order.
func (p *Proxy) HoldReplies(args ...string) (release func()) {
	var b bytes.Buffer
	for _, a := range args {
		b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	ch := make(chan struct{})
	p.mu.Lock()
	p.holding, p.release = b.Bytes(), ch
	for c := range p.conns {
		c.matched = false
	}
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.release == ch {
			p.releaseHeld()
		}
	}
}

// releaseHeld lets held replies go (p.mu held).
func (p *Proxy) releaseHeld() {
	if p.holding != nil {
		p.holding = nil
		close(p.release)
	}
}

// Held reports how many connections have replies held.
func (p *Proxy) Held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for c := range p.conns {
		if c.matched && p.holding != nil {
			n++
		}
	}
	return n
}

// Break closes every connection through the proxy, dropping replies still
// held or on their way, and refuses new connections (the port is closed)
// until Resume: a reply lost with its connection, then a server that cannot
// be reached.
func (p *Proxy) Break() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ln.Close()
	for c := range p.conns {
		c.client.Close()
		c.server.Close()
	}
	p.releaseHeld() // after the connections are gone: nothing held is delivered
}

// Resume accepts connections again after Break, on the same address.
func (p *Proxy) Resume(t testing.TB) {
	t.Helper()
	ln, err := net.Listen("tcp", p.Addr)
	if err != nil {
		t.Fatalf("redistest: proxy: listen again on %s: %v", p.Addr, err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go p.accept()
}

// Close stops the proxy and breaks every connection through it.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.releaseHeld()
	for c := range p.conns {
		c.client.Close()
		c.server.Close()
	}
	ln := p.ln
	p.mu.Unlock()
	ln.Close()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	p.mu.Lock()
	ln := p.ln
	p.mu.Unlock()
	for {
		client, err := ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target.Addr)
		if err != nil {
			client.Close()
			continue
		}
		c := &proxyConn{client: client, server: server}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			client.Close()
			server.Close()
			return
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.forwardCommands(c)
		go p.forwardReplies(c)
	}
}

func (p *Proxy) drop(c *proxyConn) {
	c.client.Close()
	c.server.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// forwardCommands copies client to server, noting whether the connection
// sent the command being held (before the server can answer it).
func (p *Proxy) forwardCommands(c *proxyConn) {
	defer p.wg.Done()
	defer p.drop(c)
	buf := make([]byte, 64<<10)
	var tail []byte // the end of what was sent before, for matches across reads
	for {
		n, err := c.client.Read(buf)
		if n > 0 {
			p.mu.Lock()
			if h := p.holding; h != nil && !c.matched {
				window := append(tail, buf[:n]...)
				c.matched = bytes.Contains(window, h)
				if keep := len(h) - 1; len(window) > keep {
					window = window[len(window)-keep:]
				}
				tail = append(tail[:0], window...)
			}
			p.mu.Unlock()
			if _, werr := c.server.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

type chunk struct {
	data []byte
	at   time.Time
}

// forwardReplies copies server to client, late or held as the test asked.
func (p *Proxy) forwardReplies(c *proxyConn) {
	defer p.wg.Done()
	chunks := make(chan chunk, 1024)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(chunks)
		for {
			buf := make([]byte, 64<<10)
			n, err := c.server.Read(buf)
			if n > 0 {
				chunks <- chunk{data: buf[:n], at: time.Now()}
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		p.drop(c)
		for range chunks { // until the reader sees the closed connection
		}
	}()
	for ch := range chunks {
		p.mu.Lock()
		delay, held, release := p.delay, c.matched && p.holding != nil, p.release
		p.mu.Unlock()
		if held {
			<-release
		}
		if wait := time.Until(ch.at.Add(delay)); wait > 0 {
			time.Sleep(wait)
		}
		if _, err := c.client.Write(ch.data); err != nil {
			return
		}
	}
}
