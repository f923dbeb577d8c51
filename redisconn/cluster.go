package redisconn

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/keyspace"
	"github.com/rueidisfs/rueidisfs/metaurl"
)

// probeCluster applies JuiceFS's detection rule to a single address: it is a
// cluster if CLUSTER INFO answers with cluster_state, or if the server
// refuses something because it is in cluster mode.
func probeCluster(ctx context.Context, cfg *metaurl.Config, tlsConf *tls.Config) (bool, error) {
	o := clientOption(cfg, tlsConf, false, false)
	o.ForceSingleClient = true
	o.DisableCache = true
	o.SelectDB = 0
	o.PipelineMultiplex = -1
	c, err := rueidis.NewClient(o)
	if err != nil {
		if strings.Contains(err.Error(), "cluster mode") {
			return true, nil
		}
		return false, describeDialError(cfg, err)
	}
	defer c.Close()
	info, err := c.Do(ctx, c.B().ClusterInfo().Build()).ToString()
	if err != nil {
		return strings.Contains(err.Error(), "cluster mode"), nil
	}
	return strings.Contains(info, "cluster_state:"), nil
}

// clusterMasters returns the addresses of the cluster's masters, as CLUSTER
// SLOTS lists them.
func clusterMasters(ctx context.Context, cfg *metaurl.Config, tlsConf *tls.Config) ([]string, error) {
	o := clientOption(cfg, tlsConf, true, false)
	o.DisableCache = true
	c, err := rueidis.NewClient(o)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	slots, err := clusterSlots(ctx, c, cfg.KeyPrefix(true))
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, s := range slots {
		f, err := s.ToArray()
		if err != nil || len(f) < 3 {
			continue
		}
		m, err := f[2].ToArray()
		if err != nil || len(m) < 2 {
			continue
		}
		host, _ := m[0].ToString()
		port, _ := m[1].AsInt64()
		addr := net.JoinHostPort(host, strconv.FormatInt(port, 10))
		if host != "" && !seen[addr] {
			seen[addr] = true
			out = append(out, addr)
		}
	}
	return out, nil
}

// ScanNode returns the client to send keyless commands about the volume of
// keys to (SCAN, DBSIZE): c itself, or in a Cluster (a prefixed volume) the
// master serving the slot of the volume's keys, the only node that has them
// all. The master is looked up with CLUSTER SLOTS every time rather than
// taken from rueidis' slot map: keyless commands get no MOVED reply that
// would correct that map after a failover or a slot migration.
func ScanNode(ctx context.Context, c rueidis.Client, keys keyspace.Keys) (rueidis.Client, error) {
	if keys.Prefix() == "" {
		return c, nil
	}
	probe := c.B().Get().Key(keys.Setting()).Build()
	slot := int64(probe.Slot())
	nodes := c.Nodes()
	shards, err := clusterSlots(ctx, c, keys.Prefix())
	if err != nil {
		return nil, err
	}
	for _, s := range shards {
		f, err := s.ToArray()
		if err != nil || len(f) < 3 {
			continue
		}
		lo, _ := f[0].AsInt64()
		hi, _ := f[1].AsInt64()
		if slot < lo || slot > hi {
			continue
		}
		m, err := f[2].ToArray()
		if err != nil || len(m) < 2 {
			break
		}
		host, _ := m[0].ToString()
		port, _ := m[1].AsInt64()
		addr := net.JoinHostPort(host, strconv.FormatInt(port, 10))
		if n, ok := nodes[addr]; ok {
			return n, nil
		}
		return nil, fmt.Errorf("the master %s of slot %d (key prefix %s) is not among the client's nodes yet; try again", addr, slot, keys.Prefix())
	}
	return nil, fmt.Errorf("no cluster node serves slot %d (key prefix %s)", slot, keys.Prefix())
}

// clusterSlots returns CLUSTER SLOTS. Any live node knows the topology:
// ask the one rueidis routes key's slot to first, then the others, since
// rueidis sends a keyless command to any node it knows, a dead seed of the
// URL included.
func clusterSlots(ctx context.Context, c rueidis.Client, key string) ([]rueidis.RedisMessage, error) {
	slots, err := c.Do(ctx, c.B().ClusterSlots().Build().SetSlot(key).ToRetryable()).ToArray()
	for _, n := range c.Nodes() {
		if err == nil || ctx.Err() != nil {
			break
		}
		slots, err = n.Do(ctx, n.B().ClusterSlots().Build()).ToArray()
	}
	if err != nil {
		return nil, fmt.Errorf("CLUSTER SLOTS: %w", err)
	}
	return slots, nil
}
