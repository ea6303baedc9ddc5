package docs

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
)

// Chromium's net-log (--log-net-log=FILE) is one JSON object: "constants", whose logEventTypes
// and logSourceType map names to the numbers the events carry, then "events", then, once the
// browser has shut down cleanly, "polledData". An event is
//
//	{"type": N, "source": {"id": S, "type": T}, "phase": P, "time": "...", "params": {...}}
//
// The events that name the far end of a socket (net/log/net_log_event_type_list.h; the net-log
// of Chromium 156 loading a page has them so):
//
//	TCP_CONNECT          params.address_list (the addresses to try, at the begin phase) and
//	                     params.remote_address (the one connected to, at the end)
//	TCP_CONNECT_ATTEMPT  params.address: one connect(2), whether or not it succeeds, and
//	                     params.remote_address at the end
//	UDP_CONNECT          params.address: a UDP socket's connect(2), DNS's and QUIC's included
//	SOCKET_CONNECT       params.address: a socket's Connect, logged by datagram client sockets
//	                     around the UDP socket of their own, which logs the UDP_CONNECT
//	UDP_BYTES_SENT       params.address: the destination of a datagram sent with sendto(2)
//	                     (mDNS, SSDP, WebRTC); absent on a connected socket, whose UDP_CONNECT
//	                     names it
//
// A TCP connect(2) sends a SYN. A UDP one sends nothing: it only picks the route, and Chromium
// uses it so, to learn whether IPv6 is reachable (a UDP socket connected to
// [2001:4860:4860::8888]:443 and closed). So a UDP socket's connect is traffic only when the
// socket, or the socket inside it (SOCKET_ALIVE's params.source_dependency names the outer
// one), then sent a datagram: logged as UDP_BYTES_SENT, or UDP_SEND_ERROR when the send failed,
// at every capture level (a QUIC connection to loopback has them). A connection through a proxy
// is a TCP connection to the proxy, whose address is the proxy's.
var (
	netLogPeerEvents = []string{"TCP_CONNECT", "TCP_CONNECT_ATTEMPT", "UDP_CONNECT", "SOCKET_CONNECT", "UDP_BYTES_SENT"}
	netLogSendEvents = []string{"UDP_BYTES_SENT", "UDP_SEND_ERROR"}
)

// netLogPeer is one address a net-log event shows Chromium connecting or sending to.
type netLogPeer struct {
	Event   string
	Source  int
	Address string // host:port, as the net-log writes it ("127.0.0.1:80", "[::1]:80")
	// Silent: a UDP socket's connect after which neither it nor a socket inside it sent a
	// datagram. Nothing left the machine for it.
	Silent bool
}

// netLogPeers returns the far ends of Chromium's sockets in a net-log, in order. It fails on a
// log that is not complete JSON (a browser killed before it finished its log may not have
// written its last events) and on one whose constants lack an event or source type it looks
// for (a Chromium that renamed one would otherwise pass unseen).
func netLogPeers(log []byte) ([]netLogPeer, error) {
	var doc struct {
		Constants struct {
			LogEventTypes map[string]int `json:"logEventTypes"`
			LogSourceType map[string]int `json:"logSourceType"`
		} `json:"constants"`
		Events []struct {
			Type   int `json:"type"`
			Source struct {
				ID   int `json:"id"`
				Type int `json:"type"`
			} `json:"source"`
			Params json.RawMessage `json:"params"`
		} `json:"events"`
		PolledData json.RawMessage `json:"polledData"`
	}
	if err := json.Unmarshal(log, &doc); err != nil {
		return nil, fmt.Errorf("not a complete net-log (did the browser exit cleanly?): %w", err)
	}
	if doc.PolledData == nil {
		return nil, errors.New("the net-log has no polledData: the browser did not finish it")
	}
	eventType := func(name string) (int, error) {
		n, ok := doc.Constants.LogEventTypes[name]
		if !ok {
			return 0, fmt.Errorf("the net-log's constants have no event type %s (%d types): this check must learn Chromium's new names", name, len(doc.Constants.LogEventTypes))
		}
		return n, nil
	}
	names := map[int]string{}
	for _, name := range slices.Concat(netLogPeerEvents, netLogSendEvents, []string{"SOCKET_ALIVE"}) {
		n, err := eventType(name)
		if err != nil {
			return nil, err
		}
		names[n] = name
	}
	udpClient, ok := doc.Constants.LogSourceType["UDP_CLIENT_SOCKET"]
	if !ok {
		return nil, fmt.Errorf("the net-log's constants have no source type UDP_CLIENT_SOCKET (%d types): this check must learn Chromium's new names", len(doc.Constants.LogSourceType))
	}

	type params struct {
		Address          string   `json:"address"`
		AddressList      []string `json:"address_list"`
		RemoteAddress    string   `json:"remote_address"`
		SourceDependency struct {
			ID int `json:"id"`
		} `json:"source_dependency"`
	}
	sent := map[int]bool{}    // sources that sent a datagram, or failed to
	inside := map[int][]int{} // source → the sockets whose SOCKET_ALIVE names it
	var peers []netLogPeer
	udpConnect := map[int]bool{} // index in peers → a UDP socket's connect
	for _, ev := range doc.Events {
		name, ok := names[ev.Type]
		if !ok {
			continue
		}
		var p params
		if len(ev.Params) > 0 {
			if err := json.Unmarshal(ev.Params, &p); err != nil {
				return nil, fmt.Errorf("params of %s event of source %d: %w", name, ev.Source.ID, err)
			}
		}
		switch name {
		case "SOCKET_ALIVE":
			if dep := p.SourceDependency.ID; dep != 0 {
				inside[dep] = append(inside[dep], ev.Source.ID)
			}
			continue
		case "UDP_SEND_ERROR":
			sent[ev.Source.ID] = true
			continue
		case "UDP_BYTES_SENT":
			sent[ev.Source.ID] = true
		}
		for _, a := range slices.Concat([]string{p.Address, p.RemoteAddress}, p.AddressList) {
			if a == "" {
				continue
			}
			if name == "UDP_CONNECT" || (name == "SOCKET_CONNECT" && ev.Source.Type == udpClient) {
				udpConnect[len(peers)] = true
			}
			peers = append(peers, netLogPeer{Event: name, Source: ev.Source.ID, Address: a})
		}
	}
	var sends func(source, depth int) bool
	sends = func(source, depth int) bool {
		if sent[source] {
			return true
		}
		if depth < 8 { // sockets nest two deep; the bound only stops a cycle
			for _, in := range inside[source] {
				if sends(in, depth+1) {
					return true
				}
			}
		}
		return false
	}
	for i := range peers {
		peers[i].Silent = udpConnect[i] && !sends(peers[i].Source, 0)
	}
	return peers, nil
}

// loopbackAddress reports whether a net-log address (host:port) is on 127.0.0.0/8 or ::1.
func loopbackAddress(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// TestNetLogPeers is the negative control of checkNetLog, on net-logs written here the way
// Chromium writes them: every kind of far end it looks for is found, a UDP socket's connect is
// silent only when nothing was sent on it, and a log it cannot judge is an error, never a pass.
func TestNetLogPeers(t *testing.T) {
	const constants = `"constants":{"logEventTypes":{"REQUEST_ALIVE":2,"SOCKET_ALIVE":3,"TCP_CONNECT":10,` +
		`"TCP_CONNECT_ATTEMPT":11,"UDP_CONNECT":20,"SOCKET_CONNECT":21,"UDP_BYTES_SENT":22,"UDP_LOCAL_ADDRESS":23,` +
		`"UDP_SEND_ERROR":24},"logSourceType":{"SOCKET":10,"UDP_SOCKET":48,"UDP_CLIENT_SOCKET":49},"logFormatVersion":1}`
	event := func(typ, source, sourceType int, params string) string {
		return fmt.Sprintf(`{"type":%d,"source":{"id":%d,"type":%d},"phase":0,"time":"1","params":%s}`, typ, source, sourceType, params)
	}
	events := strings.Join([]string{
		event(2, 1, 1, `{"url":"http://192.0.2.7/not-a-connection"}`),
		// TCP: every address, connected or only tried.
		event(10, 3, 10, `{"address_list":["127.0.0.1:8080","[::1]:8080"],"aliases":[]}`),
		event(11, 3, 10, `{"address":"192.0.2.1:80"}`),
		event(10, 3, 10, `{"local_address":"10.1.1.1:5000","remote_address":"[2001:db8::1]:443"}`),
		// The IPv6 reachability probe: a datagram client socket and its UDP socket connect,
		// and close without a send.
		event(3, 12, 49, `{"source_dependency":{"id":11,"type":7}}`),
		event(21, 12, 49, `{"address":"[2001:4860:4860::8888]:443"}`),
		event(3, 13, 48, `{"source_dependency":{"id":12,"type":49}}`),
		event(20, 13, 48, `{"address":"[2001:4860:4860::8888]:443"}`),
		event(23, 13, 48, `{"address":"[2001:db8::2]:47065"}`),
		// DNS to a nameserver: a connected UDP socket that sends.
		event(20, 4, 48, `{"address":"198.51.100.1:53"}`),
		event(22, 4, 48, `{"byte_count":40}`),
		// QUIC: the outer socket connects, the inner one fails to send.
		event(21, 14, 49, `{"address":"203.0.113.5:443"}`),
		event(3, 15, 48, `{"source_dependency":{"id":14,"type":49}}`),
		event(20, 15, 48, `{"address":"203.0.113.5:443"}`),
		event(24, 15, 48, `{"net_error":-102}`),
		// A loopback one, silent.
		event(20, 5, 48, `{"address":"127.0.0.1:443"}`),
		// mDNS: sendto on an unconnected socket.
		event(22, 6, 48, `{"address":"224.0.0.251:5353","byte_count":40}`),
		`{"type":11,"source":{"id":8,"type":10},"phase":1,"time":"2"}`,
	}, ",\n")
	complete := "{" + constants + `,"events":[` + "\n" + events + "\n" + `],"polledData":{}}` + "\n"

	peers, err := netLogPeers([]byte(complete))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range peers {
		got = append(got, fmt.Sprintf("%s/%d %s loopback=%v silent=%v", p.Event, p.Source, p.Address, loopbackAddress(p.Address), p.Silent))
	}
	want := []string{
		"TCP_CONNECT/3 127.0.0.1:8080 loopback=true silent=false",
		"TCP_CONNECT/3 [::1]:8080 loopback=true silent=false",
		"TCP_CONNECT_ATTEMPT/3 192.0.2.1:80 loopback=false silent=false",
		"TCP_CONNECT/3 [2001:db8::1]:443 loopback=false silent=false",
		"SOCKET_CONNECT/12 [2001:4860:4860::8888]:443 loopback=false silent=true",
		"UDP_CONNECT/13 [2001:4860:4860::8888]:443 loopback=false silent=true",
		"UDP_CONNECT/4 198.51.100.1:53 loopback=false silent=false",
		"SOCKET_CONNECT/14 203.0.113.5:443 loopback=false silent=false",
		"UDP_CONNECT/15 203.0.113.5:443 loopback=false silent=false",
		"UDP_CONNECT/5 127.0.0.1:443 loopback=true silent=true",
		"UDP_BYTES_SENT/6 224.0.0.251:5353 loopback=false silent=false",
	}
	if !slices.Equal(got, want) {
		t.Errorf("peers:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	for name, log := range map[string]string{
		"truncated, as a killed browser leaves it":   "{" + constants + `,"events":[` + "\n" + events + ",\n",
		"without polledData":                         "{" + constants + `,"events":[` + events + `]}`,
		"without UDP_BYTES_SENT in the constants":    strings.Replace(complete, `"UDP_BYTES_SENT":22`, `"UDP_BYTES_SENT_RENAMED":22`, 1),
		"without UDP_CLIENT_SOCKET in the constants": strings.Replace(complete, `"UDP_CLIENT_SOCKET":49`, `"DATAGRAM_CLIENT_SOCKET":49`, 1),
		"empty": "",
	} {
		if _, err := netLogPeers([]byte(log)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}

	for addr, want := range map[string]bool{
		"127.0.0.1:1": true, "127.255.0.9:80": true, "[::1]:443": true,
		"192.0.2.1:80": false, "[::ffff:192.0.2.1]:80": false, "10.0.0.5:5432": false,
		"localhost:80": false, "127.0.0.1": false, "": false,
	} {
		if got := loopbackAddress(addr); got != want {
			t.Errorf("loopbackAddress(%q) = %v, want %v", addr, got, want)
		}
	}
}
